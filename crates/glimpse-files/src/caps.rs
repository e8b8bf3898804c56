//! The most bytes Glimpse reads from one file of each kind. A file over its cap is refused
//! before anything is allocated for it. The caps are far above any real file of the kind and far
//! below what would exhaust a machine's memory, so a hostile or mistaken file gets a message
//! instead of an out-of-memory abort.

/// Images (JPEG, PNG, WebP, GIF, BMP): the largest real photos are tens of MB.
pub const IMAGE: u64 = 256 << 20;

/// Weight bundles, training checkpoints and PyTorch `.pth` files: ResNet-152 with a decoder is
/// under 1 GB. 4 GiB on 64-bit machines; 1 GiB where an address space is 32 bits.
pub const MODEL: u64 = if usize::BITS >= 64 { 4 << 30 } else { 1 << 30 };

/// Small JSON and text files a person writes or a tool emits: training configs, vocabularies,
/// checksum lists.
pub const CONFIG: u64 = 64 << 20;

/// Caption files (`{"image": "caption"}`) that `glimpse compare` scores: one caption an image,
/// about 100 bytes each (COCO's 5,000 test images make 0.5 MB, all its 123,287 images about
/// 12 MB). Scoring tokenises every caption and keeps its words: a 16 MB file of distinct words
/// takes 0.73 GB.
pub const CAPTIONS: u64 = 16 << 20;

/// Dataset annotation files: `captions.txt`, `Flickr8k.token.txt`, split lists, the synth
/// sidecar and Karpathy's JSON (`dataset_coco.json` is about 150 MB). Parsed, a file can take
/// several times its size (Karpathy's JSON of one-letter sentences about 5×).
pub const DATASET_TEXT: u64 = 256 << 20;

/// A size in bytes as people read it (`256 MiB`, `4 GiB`, `1234 bytes`).
pub fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(IMAGE), "256 MiB");
        assert_eq!(human(4 << 30), "4 GiB");
        assert_eq!(human(1000), "1000 bytes");
        assert_eq!(human(2048), "2 KiB");
    }
}
