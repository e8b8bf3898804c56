//! The legacy container (`torch.save` before PyTorch 1.6, and `_use_new_zipfile_serialization=
//! False`): five pickles back to back (magic number, protocol version, system info, the saved
//! object, the storage keys), then each storage as its element count and raw bytes.

use std::collections::HashMap;
use std::ops::Range;

use crate::error::PthError;
use crate::persistent::StorageLoader;
use crate::pickle::{Value, parse};

/// The legacy container's magic number, as the pickle reader spells huge integers.
const MAGIC: &str = "0x1950a86a20f9469cfc6c";

/// The only legacy protocol version PyTorch ever wrote.
const PROTOCOL: i64 = 1001;

/// A parsed legacy file: the saved object and where each storage's bytes are.
pub(crate) struct Legacy {
    pub(crate) root: Value,
    /// Storage key → byte range in the file.
    pub(crate) ranges: HashMap<String, Range<usize>>,
}

/// Reads the pickles one after another, tracking the offset.
struct Stream<'a> {
    data: &'a [u8],
    at: usize,
    loader: StorageLoader,
}

impl Stream<'_> {
    fn pickle(&mut self, part: &'static str) -> Result<Value, PthError> {
        let rest = self.data.get(self.at..).unwrap_or_default();
        let (value, used) =
            parse(rest, &mut self.loader).map_err(|error| PthError::Pickle { part, error })?;
        self.at += used;
        Ok(value)
    }

    /// The storage after the pickles: an `i64` element count, then the elements.
    fn storage(&mut self, key: &str) -> Result<Range<usize>, PthError> {
        let dtype = *self
            .loader
            .dtypes
            .get(key)
            .ok_or_else(|| PthError::UnusedStorage { key: key.to_string() })?;
        let count = self
            .data
            .get(self.at..)
            .and_then(<[u8]>::first_chunk::<8>)
            .map(|b| i64::from_le_bytes(*b))
            .ok_or_else(|| PthError::StorageSizeMissing { key: key.to_string() })?;
        // A count other than the declared one misread every storage after it ("storage 110 has
        // size -4865571588787504585": hostile round 22), as torch refuses it ("wrong size").
        if let Some(&declared) = self.loader.sizes.get(key)
            && usize::try_from(count).ok() != Some(declared)
        {
            return Err(PthError::StorageSizeMismatch {
                key: key.to_string(),
                declared,
                count,
            });
        }
        let bytes = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(dtype.size()))
            .ok_or_else(|| PthError::StorageSize {
                key: key.to_string(),
                count,
            })?;
        let start = self.at + 8;
        let stop = start
            .checked_add(bytes)
            .filter(|&s| s <= self.data.len())
            .ok_or_else(|| PthError::StorageTruncated {
                key: key.to_string(),
                bytes,
                start,
                len: self.data.len(),
            })?;
        self.at = stop;
        Ok(start..stop)
    }
}

pub(crate) fn read(data: &[u8]) -> Result<Legacy, PthError> {
    let mut stream = Stream {
        data,
        at: 0,
        loader: StorageLoader::new(true),
    };
    let magic = stream.pickle("magic number")?;
    if !matches!(&magic, Value::Opaque(m) if m.as_str() == MAGIC) {
        return Err(PthError::NotTorchSave);
    }
    let protocol = stream.pickle("protocol version")?;
    if protocol.as_int() != Some(PROTOCOL) {
        return Err(PthError::LegacyProtocol(format!("{protocol:?}")));
    }
    let sys_info = stream.pickle("system info")?;
    if let Some(Value::Bool(false)) = sys_info.get("little_endian") {
        return Err(PthError::BigEndian);
    }
    let root = stream.pickle("the saved object")?;
    let keys = storage_keys(stream.pickle("storage keys")?)?;
    let mut ranges = HashMap::new();
    for key in keys {
        let range = stream.storage(&key)?;
        ranges.insert(key, range);
    }
    Ok(Legacy { root, ranges })
}

fn storage_keys(keys: Value) -> Result<Vec<String>, PthError> {
    match &keys {
        Value::List(keys) => keys
            .borrow()
            .iter()
            .map(|k| k.as_str().map(str::to_string))
            .collect::<Option<_>>(),
        _ => None,
    }
    .ok_or(PthError::StorageKeys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::StorageDtype;

    /// A storage whose count in the stream is not the one its id declares is refused by its
    /// key, before anything after it is misread (hostile round 22).
    #[test]
    fn a_storage_count_other_than_declared_is_refused_by_its_key() {
        let mut loader = StorageLoader::new(true);
        loader.dtypes.insert("11".into(), StorageDtype::F32);
        loader.sizes.insert("11".into(), 64);
        let data = [10i64.to_le_bytes().to_vec(), vec![0; 40]].concat();
        let mut stream = Stream {
            data: &data,
            at: 0,
            loader,
        };
        let err = stream.storage("11").unwrap_err().to_string();
        assert_eq!(
            err,
            "storage 11 holds 10 elements in the file, but the checkpoint declares 64"
        );
        stream.at = 0;
        stream.loader.sizes.insert("11".into(), 10);
        assert_eq!(stream.storage("11").unwrap(), 8..48);
    }
}
