//! `torch.save`'s persistent ids: each names a storage (its class, key and size) whose bytes
//! sit outside the pickle.

use std::collections::HashMap;
use std::rc::Rc;

use crate::pickle::{
    PersistentIdError, PersistentLoad, StorageDtype, StorageRef, Value, preview, preview_text,
};

/// The longest storage key accepted. `torch.save` writes decimal numbers ("0", "1", … in the
/// zip container, object ids of about 15 digits in the legacy one).
const MAX_KEY_BYTES: usize = 256;

/// Turns persistent ids into storage references, remembering each storage's dtype.
pub(crate) struct StorageLoader {
    /// Legacy ids carry view metadata; zip ids do not.
    legacy: bool,
    /// Root storage key → its dtype (the legacy stream needs it to size each storage).
    pub(crate) dtypes: HashMap<Rc<str>, StorageDtype>,
    /// Root storage key → the element count its first id declares (the legacy stream's count
    /// is checked against it).
    pub(crate) sizes: HashMap<Rc<str>, usize>,
}

impl StorageLoader {
    pub(crate) fn new(legacy: bool) -> StorageLoader {
        StorageLoader {
            legacy,
            dtypes: HashMap::new(),
            sizes: HashMap::new(),
        }
    }
}

impl PersistentLoad for StorageLoader {
    /// `('storage', torch.FloatStorage, key, location, numel[, view])`.
    fn load(&mut self, pid: &Value) -> Result<Value, PersistentIdError> {
        let Value::Tuple(fields) = pid else {
            return Err(PersistentIdError::Unexpected(preview(pid)));
        };
        match fields.first().and_then(Value::as_str) {
            Some("storage") => {}
            // Legacy whole-module saves file each class with its source code: the class stays a
            // name, and its source is never looked at.
            Some("module") => return Ok(fields.get(1).cloned().unwrap_or(Value::None)),
            _ => return Err(PersistentIdError::Unexpected(preview(pid))),
        }
        let dtype = storage_dtype(fields.get(1))?;
        let key = match fields.get(2) {
            Some(Value::Str(key)) if key.len() <= MAX_KEY_BYTES => key.clone(),
            _ => return Err(PersistentIdError::Key),
        };
        let numel = fields
            .get(4)
            .and_then(Value::as_count)
            .ok_or(PersistentIdError::Size)?;
        if let Some(&first) = self.dtypes.get(&key)
            && first != dtype
        {
            return Err(PersistentIdError::MixedDtypes {
                key: key.to_string(),
                first,
                second: dtype,
            });
        }
        self.dtypes.insert(key.clone(), dtype);
        self.sizes.entry(key.clone()).or_insert(numel);
        let (offset, numel) = match (self.legacy, fields.get(5)) {
            // (view key, offset, size) into the root storage.
            (true, Some(Value::Tuple(view))) => legacy_view(view)?,
            _ => (0, numel),
        };
        Ok(Value::Storage(Rc::new(StorageRef {
            key,
            dtype,
            offset,
            numel,
        })))
    }
}

fn storage_dtype(class: Option<&Value>) -> Result<StorageDtype, PersistentIdError> {
    let class = match class {
        Some(Value::Global(g)) => &g.name,
        Some(other) => return Err(PersistentIdError::StorageType(preview(other))),
        None => return Err(PersistentIdError::StorageType("nothing".into())),
    };
    StorageDtype::from_class(class).ok_or_else(|| PersistentIdError::UnsupportedDtype(preview_text(class)))
}

/// A legacy view's offset and size, in elements of its root storage.
fn legacy_view(view: &[Value]) -> Result<(usize, usize), PersistentIdError> {
    let offset = view
        .get(1)
        .and_then(Value::as_count)
        .ok_or(PersistentIdError::ViewOffset)?;
    let size = view
        .get(2)
        .and_then(Value::as_count)
        .ok_or(PersistentIdError::ViewSize)?;
    Ok((offset, size))
}
