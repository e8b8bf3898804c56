//! A `torch.save` archive around a fuzzed pickle: the notebook checkpoint's real storages and
//! records, with `data.pkl` replaced. Zip checksums are computed here, so that mutations reach
//! the pickle machine and the importer instead of stopping at a CRC mismatch.

use std::io::{Cursor, Read, Write};
use std::sync::OnceLock;

use zip::read::{ArchiveOffset, Config};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// The notebook's checkpoint (ResNet-18 at width 1/8, its attention decoder), saved by PyTorch.
const NOTEBOOK: &[u8] = include_bytes!("../../../tests/fixtures/torch/notebook/attention_model_state.pth");
/// Its vocabulary, as the notebook writes it.
pub const NOTEBOOK_VOCAB: &[u8] = include_bytes!("../../../tests/fixtures/torch/notebook/vocab.json");

/// The fixture as a zip archive (read from offset 0: zip's offset detection rejects the zip64
/// records PyTorch writes).
fn notebook() -> ZipArchive<Cursor<&'static [u8]>> {
    let at_start = Config {
        archive_offset: ArchiveOffset::Known(0),
    };
    ZipArchive::with_config(at_start, Cursor::new(NOTEBOOK)).expect("the notebook fixture is a zip")
}

/// The archive's records other than `data.pkl` (name, bytes), and the pickle's own name.
struct Records {
    pickle_name: String,
    others: Vec<(String, Vec<u8>)>,
}

fn records() -> &'static Records {
    static RECORDS: OnceLock<Records> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let mut archive = notebook();
        let mut records = Records {
            pickle_name: String::new(),
            others: Vec::new(),
        };
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).expect("a readable fixture record");
            let name = entry.name().expect("a fixture record name").to_string();
            if name.ends_with("/data.pkl") {
                records.pickle_name = name;
                continue;
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("a readable fixture record");
            records.others.push((name, bytes));
        }
        records
    })
}

/// The notebook fixture's own pickle: the seed of the `import` corpus.
pub fn notebook_pickle() -> Vec<u8> {
    let mut archive = notebook();
    let name = records().pickle_name.clone();
    let mut bytes = Vec::new();
    archive
        .by_name(&name)
        .and_then(|mut entry| Ok(entry.read_to_end(&mut bytes)?))
        .expect("the fixture's data.pkl");
    bytes
}

/// A zip archive as `torch.save` writes it, holding `pickle` as its `data.pkl`.
pub fn with_pickle(pickle: &[u8]) -> Vec<u8> {
    let records = records();
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut add = |name: &str, bytes: &[u8]| {
        zip.start_file(name, options).expect("an in-memory zip");
        zip.write_all(bytes).expect("an in-memory zip");
    };
    add(&records.pickle_name, pickle);
    for (name, bytes) in &records.others {
        add(name, bytes);
    }
    zip.finish().expect("an in-memory zip").into_inner()
}
