//! Reading PyTorch checkpoints (`.pth`, `.pt`, `.pth.tar`) without PyTorch and without executing
//! anything in them.
//!
//! Two containers exist: the zip archive `torch.save` has written since PyTorch 1.6 (`data.pkl`
//! plus one entry per storage) and the legacy stream before it (magic number, protocol, system
//! info, the pickle, the storage keys, then each storage's element count and bytes). Both are
//! read here, including whole pickled modules (`torch.save(model)`), which are walked as their
//! `state_dict()` would list them.

pub mod pickle;
pub mod zip;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, Result, anyhow, bail};

use self::pickle::{PersistentLoad, StorageDtype, StorageRef, TensorRef, Value, parse};
use self::zip::ZipIndex;

/// The legacy container's magic number, as the reader spells huge integers.
const LEGACY_MAGIC: &str = "0x1950a86a20f9469cfc6c";

/// Which container the file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Zip,
    Legacy,
}

/// An opened checkpoint: its object tree and where each storage's bytes are.
#[derive(Debug)]
pub struct PthFile {
    pub container: Container,
    pub root: Value,
    data: Vec<u8>,
    storages: Storages,
}

#[derive(Debug)]
enum Storages {
    Zip(ZipIndex),
    /// Storage key → byte range.
    Legacy(HashMap<String, (usize, usize)>),
}

/// A tensor found in the object tree, under its dotted path (`state_dict.decoder.fc.weight`).
#[derive(Debug, Clone)]
pub struct FoundTensor {
    pub name: String,
    pub tensor: Rc<TensorRef>,
}

/// Collects storage references from persistent ids.
struct StorageLoader {
    legacy: bool,
    /// Root storage key → its dtype (the legacy stream needs it to size each storage).
    dtypes: HashMap<String, StorageDtype>,
}

impl PersistentLoad for StorageLoader {
    fn load(&mut self, pid: &Value) -> Result<Value, String> {
        let Value::Tuple(fields) = pid else {
            return Err(format!("unexpected persistent id {pid:?}"));
        };
        match fields.first().and_then(Value::as_str) {
            Some("storage") => {}
            // Legacy whole-module saves file each class with its source code: the class stays a
            // name, and its source is never looked at.
            Some("module") => return Ok(fields.get(1).cloned().unwrap_or(Value::None)),
            _ => return Err(format!("unexpected persistent id {fields:?}")),
        }
        let class = match fields.get(1) {
            Some(Value::Global(g)) => g.1.clone(),
            other => return Err(format!("storage type is {other:?}")),
        };
        let dtype = StorageDtype::from_class(&class)
            .ok_or_else(|| format!("storage type torch.{class} is not supported"))?;
        let key = fields
            .get(2)
            .and_then(Value::as_str)
            .ok_or("storage key is not a string")?
            .to_string();
        let numel = fields
            .get(4)
            .and_then(Value::as_int)
            .filter(|&n| n >= 0)
            .ok_or("storage size is not a count")? as usize;
        self.dtypes.insert(key.clone(), dtype);
        // Legacy ids carry view metadata: (view key, offset, size) into the root storage.
        if self.legacy {
            if let Some(Value::Tuple(view)) = fields.get(5) {
                let offset = view
                    .get(1)
                    .and_then(Value::as_int)
                    .filter(|&o| o >= 0)
                    .ok_or("storage view offset")? as usize;
                let size = view
                    .get(2)
                    .and_then(Value::as_int)
                    .filter(|&s| s >= 0)
                    .ok_or("storage view size")? as usize;
                return Ok(Value::Storage(Rc::new(StorageRef {
                    key,
                    dtype,
                    offset,
                    numel: size,
                })));
            }
        }
        Ok(Value::Storage(Rc::new(StorageRef {
            key,
            dtype,
            offset: 0,
            numel,
        })))
    }
}

impl PthFile {
    pub fn open(path: &Path) -> Result<PthFile> {
        let data = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        PthFile::from_bytes(data)
            .with_context(|| format!("{}: not a readable PyTorch checkpoint", path.display()))
    }

    pub fn from_bytes(data: Vec<u8>) -> Result<PthFile> {
        if data.starts_with(b"PK\x03\x04") {
            return PthFile::from_zip(data);
        }
        if data.get(257..262) == Some(b"ustar") {
            bail!(
                "this is a pre-2017 (PyTorch < 0.1.10) tar checkpoint; load and re-save it with torch.save to convert it"
            );
        }
        if data.first() == Some(&0x80) {
            return PthFile::from_legacy(data);
        }
        bail!(
            "neither a zip archive nor a pickle stream (the first bytes are {:02x?})",
            &data[..data.len().min(8)]
        )
    }

    fn from_zip(data: Vec<u8>) -> Result<PthFile> {
        let index = ZipIndex::read(&data).map_err(|e| anyhow!(e))?;
        if let Some(order) = index.find(&data, "byteorder") {
            if order != b"little" {
                bail!(
                    "the checkpoint was written on a big-endian machine; only little-endian files are supported"
                );
            }
        }
        let pickle_bytes = index
            .find(&data, "data.pkl")
            .ok_or_else(|| anyhow!("zip archive without data.pkl: not a torch.save file"))?;
        let mut loader = StorageLoader {
            legacy: false,
            dtypes: HashMap::new(),
        };
        let (root, _) = parse(pickle_bytes, &mut loader).map_err(|e| anyhow!("data.pkl: {e}"))?;
        Ok(PthFile {
            container: Container::Zip,
            root,
            storages: Storages::Zip(index),
            data,
        })
    }

    fn from_legacy(data: Vec<u8>) -> Result<PthFile> {
        let mut loader = StorageLoader {
            legacy: true,
            dtypes: HashMap::new(),
        };
        let mut at = 0;
        let next = |at: &mut usize, loader: &mut StorageLoader, what: &str| -> Result<Value> {
            let (value, used) = parse(&data[*at..], loader).map_err(|e| anyhow!("{what}: {e}"))?;
            *at += used;
            Ok(value)
        };
        let magic = next(&mut at, &mut loader, "magic number")?;
        if !matches!(&magic, Value::Opaque(m) if m.as_str() == LEGACY_MAGIC) {
            bail!("a pickle, but not a torch.save file (no PyTorch magic number)");
        }
        let protocol = next(&mut at, &mut loader, "protocol version")?;
        if protocol.as_int() != Some(1001) {
            bail!("legacy protocol version {protocol:?} is not 1001");
        }
        let sys_info = next(&mut at, &mut loader, "system info")?;
        if let Some(Value::Bool(false)) = sys_info.get("little_endian") {
            bail!(
                "the checkpoint was written on a big-endian machine; only little-endian files are supported"
            );
        }
        let root = next(&mut at, &mut loader, "the saved object")?;
        let keys = next(&mut at, &mut loader, "storage keys")?;
        let keys: Vec<String> = match keys {
            Value::List(keys) => keys
                .borrow()
                .iter()
                .map(|k| k.as_str().map(str::to_string))
                .collect::<Option<_>>(),
            _ => None,
        }
        .ok_or_else(|| anyhow!("the storage key list is not a list of strings"))?;
        let mut ranges = HashMap::new();
        for key in keys {
            let dtype = *loader
                .dtypes
                .get(&key)
                .ok_or_else(|| anyhow!("storage {key} is listed but never used"))?;
            let count = data
                .get(at..at + 8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .ok_or_else(|| anyhow!("truncated: storage {key}'s size is missing"))?;
            let bytes = usize::try_from(count)
                .ok()
                .and_then(|c| c.checked_mul(dtype.size()))
                .ok_or_else(|| anyhow!("storage {key} has size {count}"))?;
            let start = at + 8;
            let stop = start
                .checked_add(bytes)
                .filter(|&s| s <= data.len())
                .ok_or_else(|| {
                    anyhow!(
                        "truncated: storage {key} needs {bytes} bytes at byte {start}, the file has {}",
                        data.len()
                    )
                })?;
            ranges.insert(key, (start, stop));
            at = stop;
        }
        Ok(PthFile {
            container: Container::Legacy,
            root,
            storages: Storages::Legacy(ranges),
            data,
        })
    }

    /// Every tensor, named by its path through dicts, lists and modules; plus the paths of
    /// values that are tensors of a kind this reader cannot represent.
    pub fn tensors(&self) -> (Vec<FoundTensor>, Vec<String>) {
        let mut walker = Walker::default();
        walker.value(&self.root, "", 0);
        (walker.found, walker.unsupported)
    }

    /// Top-level numbers of a dict checkpoint (`epoch`, `embed_size`, `bleu-4`, …).
    pub fn scalars(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        if let Value::Dict(items) = &self.root {
            for (key, value) in items.borrow().iter() {
                let number = match value {
                    Value::Int(v) => Some(*v as f64),
                    Value::Float(v) => Some(*v),
                    _ => None,
                };
                if let (Some(key), Some(number)) = (key.as_str(), number) {
                    out.insert(key.to_string(), number);
                }
            }
        }
        out
    }

    /// A float tensor's values in row-major order, whatever its strides.
    pub fn read_f32(&self, tensor: &TensorRef) -> Result<Vec<f32>> {
        let storage = &tensor.storage;
        let bytes = match &self.storages {
            Storages::Zip(index) => index
                .find(&self.data, &format!("data/{}", storage.key))
                .ok_or_else(|| anyhow!("storage {} is missing from the archive", storage.key))?,
            Storages::Legacy(ranges) => {
                let &(start, stop) = ranges
                    .get(&storage.key)
                    .ok_or_else(|| anyhow!("storage {} is missing", storage.key))?;
                &self.data[start..stop]
            }
        };
        let size = storage.dtype.size();
        let available = bytes.len() / size;
        if storage.offset + storage.numel > available {
            bail!(
                "storage {} holds {available} elements, fewer than its view needs",
                storage.key
            );
        }
        let numel: usize = tensor.shape.iter().product();
        if tensor.stride.len() != tensor.shape.len() {
            bail!(
                "tensor has {} dimensions but {} strides",
                tensor.shape.len(),
                tensor.stride.len()
            );
        }
        if numel > 0 {
            let last = tensor.offset
                + tensor
                    .shape
                    .iter()
                    .zip(&tensor.stride)
                    .map(|(&n, &s)| (n - 1) * s)
                    .sum::<usize>();
            if last >= storage.numel {
                bail!("tensor reaches element {last} of a storage of {}", storage.numel);
            }
        }
        let element = |index: usize| -> f32 {
            let at = (storage.offset + index) * size;
            let b = &bytes[at..at + size];
            match storage.dtype {
                StorageDtype::F32 => f32::from_le_bytes(b.try_into().unwrap()),
                StorageDtype::F64 => f64::from_le_bytes(b.try_into().unwrap()) as f32,
                StorageDtype::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
                StorageDtype::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
                _ => f32::NAN,
            }
        };
        if !storage.dtype.is_float() {
            bail!("a {:?} tensor is not a float tensor", storage.dtype);
        }
        let mut out = Vec::with_capacity(numel);
        let mut index = vec![0usize; tensor.shape.len()];
        for _ in 0..numel {
            let position = tensor.offset
                + index
                    .iter()
                    .zip(&tensor.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            out.push(element(position));
            // Advance the row-major multi-index.
            for dim in (0..index.len()).rev() {
                index[dim] += 1;
                if index[dim] < tensor.shape[dim] {
                    break;
                }
                index[dim] = 0;
            }
        }
        Ok(out)
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn key_name(key: &Value) -> Option<String> {
    match key {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Deep enough for any real model; stops pathological self-referencing pickles.
const MAX_DEPTH: usize = 64;

/// Collects tensors from an object tree, naming each by its path.
#[derive(Default)]
struct Walker {
    found: Vec<FoundTensor>,
    unsupported: Vec<String>,
}

impl Walker {
    fn value(&mut self, value: &Value, path: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::Tensor(tensor) => self.found.push(FoundTensor {
                name: path.to_string(),
                tensor: tensor.clone(),
            }),
            Value::Opaque(description) if description.contains("tensor") => {
                self.unsupported.push(format!("{path}: {description}"));
            }
            Value::Dict(items) => self.items(&items.borrow(), path, depth),
            Value::List(items) => self.sequence(items.borrow().iter(), path, depth),
            Value::Tuple(items) => self.sequence(items.iter(), path, depth),
            Value::Object(object) => {
                let object = object.borrow();
                match &object.state {
                    Some(state @ Value::Dict(_))
                        if state.get("_parameters").is_some() || state.get("_modules").is_some() =>
                    {
                        self.module(state, path, depth);
                    }
                    // Anything else (optimizers, custom classes) is not part of a model's weights,
                    // except for dict-like objects whose items hold tensors.
                    _ => self.items(&object.items, path, depth),
                }
            }
            _ => {}
        }
    }

    fn sequence<'a>(&mut self, items: impl Iterator<Item = &'a Value>, path: &str, depth: usize) {
        for (i, item) in items.enumerate() {
            self.value(item, &join(path, &i.to_string()), depth + 1);
        }
    }

    fn items(&mut self, items: &[(Value, Value)], path: &str, depth: usize) {
        for (key, value) in items {
            if let Some(name) = key_name(key) {
                self.value(value, &join(path, &name), depth + 1);
            }
        }
    }

    /// An `nn.Module`'s attribute dict, in `state_dict()` order: parameters, persistent buffers,
    /// then each child module.
    fn module(&mut self, state: &Value, path: &str, depth: usize) {
        let non_persistent: HashSet<String> = match state.get("_non_persistent_buffers_set") {
            Some(Value::Object(set)) => match set.borrow().args.first() {
                Some(Value::List(names)) => names
                    .borrow()
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => HashSet::new(),
            },
            _ => HashSet::new(),
        };
        if let Some(Value::Dict(parameters)) = state.get("_parameters") {
            self.items(&parameters.borrow(), path, depth);
        }
        if let Some(Value::Dict(buffers)) = state.get("_buffers") {
            let persistent: Vec<(Value, Value)> = buffers
                .borrow()
                .iter()
                .filter(|(k, _)| k.as_str().is_none_or(|name| !non_persistent.contains(name)))
                .cloned()
                .collect();
            self.items(&persistent, path, depth);
        }
        if let Some(Value::Dict(modules)) = state.get("_modules") {
            self.items(&modules.borrow(), path, depth);
        }
    }
}
