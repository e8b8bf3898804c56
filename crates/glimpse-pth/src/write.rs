//! Writing a state dict as `torch.save` does (the zip container), so that
//! `torch.load(path, weights_only=True)` returns an `OrderedDict` of float32 tensors.
//!
//! The pickle uses only what PyTorch's `weights_only` unpickler allows: `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2` and `torch.FloatStorage` as a persistent id. Each tensor has
//! a storage of its own, stored uncompressed and 64-byte aligned as `torch.save` aligns them.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::PthError;
use crate::pickle::OpCode;

/// One named float32 tensor, row-major.
#[derive(Debug, Clone, Copy)]
pub struct NamedTensor<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub data: &'a [f32],
}

/// The archive's top folder, as `torch.save` names it after the file (any name loads).
const ARCHIVE: &str = "archive";

/// `tensors` as the bytes of a `.pth` file holding their state dict, in the order given.
pub fn write_state_dict(tensors: &[NamedTensor]) -> Result<Vec<u8>, PthError> {
    let mut p = Pickle(vec![OpCode::Proto as u8, 2]);
    p.state_dict(tensors)?;
    p.op(OpCode::Stop);
    archive(&p.0, tensors)
}

/// A training checkpoint as the notebook saves one: a dict of integers (`embed_size`, …) and the
/// state dict under `state_dict`.
pub fn write_checkpoint(numbers: &[(&str, usize)], tensors: &[NamedTensor]) -> Result<Vec<u8>, PthError> {
    let mut p = Pickle(vec![OpCode::Proto as u8, 2]);
    p.op(OpCode::EmptyDict);
    p.op(OpCode::Mark);
    for &(key, value) in numbers {
        p.text(key)?;
        p.int(value, key)?;
    }
    p.text("state_dict")?;
    p.state_dict(tensors)?;
    p.op(OpCode::SetItems);
    p.op(OpCode::Stop);
    archive(&p.0, tensors)
}

/// The zip container: the pickle, then one storage per tensor.
fn archive(pickle: &[u8], tensors: &[NamedTensor]) -> Result<Vec<u8>, PthError> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        // A fixed date: the same tensors give the same bytes.
        .last_modified_time(DateTime::default())
        .with_alignment(64);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut entry = |name: String, bytes: &[u8]| -> Result<(), PthError> {
        zip.start_file(name.as_str(), options)
            .map_err(|error| PthError::ZipEntry {
                name: name.clone(),
                error,
            })?;
        zip.write_all(bytes).map_err(|error| PthError::ZipEntry {
            name,
            error: error.into(),
        })
    };
    entry(format!("{ARCHIVE}/data.pkl"), pickle)?;
    entry(format!("{ARCHIVE}/byteorder"), b"little")?;
    for (key, tensor) in tensors.iter().enumerate() {
        let bytes: Vec<u8> = tensor.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        entry(format!("{ARCHIVE}/data/{key}"), &bytes)?;
    }
    entry(format!("{ARCHIVE}/version"), b"3\n")?;
    let cursor = zip.finish().map_err(PthError::Zip)?;
    Ok(cursor.into_inner())
}

/// A pickle being written.
struct Pickle(Vec<u8>);

impl Pickle {
    /// `OrderedDict([(name, tensor), …])`, storage `i` holding tensor `i`.
    fn state_dict(&mut self, tensors: &[NamedTensor]) -> Result<(), PthError> {
        self.ordered_dict();
        self.op(OpCode::Mark);
        for (key, tensor) in tensors.iter().enumerate() {
            let elements = tensor.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            if elements != Some(tensor.data.len()) {
                return Err(PthError::WriteShape {
                    name: tensor.name.to_string(),
                    shape: tensor.shape.to_vec(),
                    values: tensor.data.len(),
                });
            }
            self.text(tensor.name)?;
            self.tensor(&key.to_string(), tensor.shape, tensor.name)?;
        }
        self.op(OpCode::SetItems);
        Ok(())
    }

    fn op(&mut self, op: OpCode) {
        self.0.push(op as u8);
    }

    fn global(&mut self, module: &str, name: &str) {
        self.op(OpCode::Global);
        self.0.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }

    fn text(&mut self, text: &str) -> Result<(), PthError> {
        let len = u32::try_from(text.len()).map_err(|_| PthError::WriteDimension {
            name: text.chars().take(40).collect(),
            value: text.len(),
        })?;
        self.op(OpCode::BinUnicode);
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }

    /// A non-negative integer that fits a pickle `BININT` (i32).
    fn int(&mut self, value: usize, name: &str) -> Result<(), PthError> {
        let value = i32::try_from(value).map_err(|_| PthError::WriteDimension {
            name: name.to_string(),
            value,
        })?;
        self.op(OpCode::BinInt);
        self.0.extend_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn ints(&mut self, values: &[usize], name: &str) -> Result<(), PthError> {
        self.op(OpCode::Mark);
        for &value in values {
            self.int(value, name)?;
        }
        self.op(OpCode::Tuple);
        Ok(())
    }

    /// `collections.OrderedDict()`.
    fn ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.op(OpCode::EmptyTuple);
        self.op(OpCode::Reduce);
    }

    /// `torch._utils._rebuild_tensor_v2(storage, 0, shape, strides, False, OrderedDict())` over
    /// the storage `key`, contiguous.
    fn tensor(&mut self, key: &str, shape: &[usize], name: &str) -> Result<(), PthError> {
        let elements: usize = shape.iter().product(); // checked by `state_dict`
        // Row-major strides, checked: a zero dimension lets the others' product overflow.
        let mut strides = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1]
                .checked_mul(shape[d + 1])
                .ok_or_else(|| PthError::WriteShape {
                    name: name.to_string(),
                    shape: shape.to_vec(),
                    values: elements,
                })?;
        }
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.op(OpCode::Mark);
        // The persistent id: ('storage', torch.FloatStorage, key, 'cpu', elements).
        self.op(OpCode::Mark);
        self.text("storage")?;
        self.global("torch", "FloatStorage");
        self.text(key)?;
        self.text("cpu")?;
        self.int(elements, name)?;
        self.op(OpCode::Tuple);
        self.op(OpCode::BinPersId);
        self.int(0, name)?;
        self.ints(shape, name)?;
        self.ints(&strides, name)?;
        self.op(OpCode::NewFalse);
        self.ordered_dict();
        self.op(OpCode::Tuple);
        self.op(OpCode::Reduce);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PthFile;

    #[test]
    fn what_it_writes_reads_back_with_the_same_names_shapes_and_values() {
        let a: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
        let b = [3.25f32];
        let tensors = [
            NamedTensor {
                name: "encoder.conv1.weight",
                shape: &[2, 3],
                data: &a,
            },
            NamedTensor {
                name: "decoder.scale",
                shape: &[],
                data: &b,
            },
        ];
        let bytes = write_checkpoint(&[("embed_size", 16)], &tensors).unwrap();
        assert_eq!(
            bytes,
            write_checkpoint(&[("embed_size", 16)], &tensors).unwrap(),
            "byte-reproducible"
        );
        let file = PthFile::from_bytes(bytes).unwrap();
        assert_eq!(file.scalars().get("embed_size"), Some(&16.0));
        let (found, unsupported) = file.tensors();
        assert!(unsupported.is_empty());
        assert_eq!(found.len(), 2);
        for (written, read) in tensors.iter().zip(&found) {
            assert_eq!(read.name, format!("state_dict.{}", written.name));
            assert_eq!(read.tensor.shape, written.shape);
            assert_eq!(file.read_f32(&read.tensor).unwrap(), written.data);
        }
    }

    #[test]
    fn a_shape_that_does_not_match_its_values_is_refused_by_name() {
        let data = [1.0f32; 5];
        let error = write_state_dict(&[NamedTensor {
            name: "w",
            shape: &[2, 3],
            data: &data,
        }])
        .unwrap_err();
        assert!(error.to_string().contains("`w`"), "{error}");
        // No values, but strides that would overflow: refused, not wrapped.
        let huge = usize::MAX / 2;
        let error = write_state_dict(&[NamedTensor {
            name: "z",
            shape: &[0, huge, huge],
            data: &[],
        }])
        .unwrap_err();
        assert!(error.to_string().contains("`z`"), "{error}");
    }
}
