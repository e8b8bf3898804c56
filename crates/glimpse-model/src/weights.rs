//! Named tensors on the host, keyed by their PyTorch state-dict names.
//!
//! This is the currency between the file formats (safetensors bundles, PyTorch checkpoints) and
//! the model: readers fill a [`TensorMap`], [`crate::params`] moves it into a model's parameters
//! and back.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// One tensor on the host; computation is always f32 whatever the storage type was.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(Error::InvalidArgument(format!(
                "shape {shape:?} needs {expected} values, got {}",
                data.len()
            )));
        }
        Ok(HostTensor { shape, data })
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// Fails on the first NaN or infinity, naming the tensor, and on a BatchNorm running
    /// variance below 0: finite, it passed, and every caption failed on a NaN that named no
    /// tensor (hostile round 22).
    pub fn check_values(&self, name: &str) -> Result<()> {
        let error = |index: usize| (name.to_string(), index, self.data[index]);
        if let Some(index) = self.data.iter().position(|v| !v.is_finite()) {
            let (name, index, value) = error(index);
            return Err(Error::NonFinite { name, index, value });
        }
        let variance = name == "running_var" || name.ends_with(".running_var");
        match self.data.iter().position(|v| *v < 0.0) {
            Some(index) if variance => {
                let (name, index, value) = error(index);
                Err(Error::NegativeVariance { name, index, value })
            }
            _ => Ok(()),
        }
    }
}

/// Tensors by name, in name order (so files written from it are reproducible).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorMap {
    tensors: BTreeMap<String, HostTensor>,
}

impl TensorMap {
    pub fn new() -> Self {
        TensorMap::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, tensor: HostTensor) -> Option<HostTensor> {
        self.tensors.insert(name.into(), tensor)
    }

    pub fn get(&self, name: &str) -> Option<&HostTensor> {
        self.tensors.get(name)
    }

    pub fn remove(&mut self, name: &str) -> Option<HostTensor> {
        self.tensors.remove(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &HostTensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Removes every tensor whose name satisfies `predicate`, returning how many went.
    pub fn remove_where(&mut self, predicate: impl Fn(&str) -> bool) -> usize {
        let before = self.tensors.len();
        self.tensors.retain(|name, _| !predicate(name));
        before - self.tensors.len()
    }

    /// Moves every tensor under `from` to the same name under `to`; others stay as they are.
    pub fn rename_prefix(&mut self, from: &str, to: &str) {
        let names: Vec<String> = self
            .tensors
            .keys()
            .filter(|name| name.starts_with(from))
            .cloned()
            .collect();
        for name in names {
            let tensor = self.tensors.remove(&name).expect("listed above");
            self.tensors
                .insert(format!("{to}{}", &name[from.len()..]), tensor);
        }
    }

    /// Adds every tensor of `other`, which wins on a clash.
    pub fn extend(&mut self, other: TensorMap) {
        self.tensors.extend(other.tensors);
    }

    /// Checks every tensor's values ([`HostTensor::check_values`]).
    pub fn check_values(&self) -> Result<()> {
        self.tensors
            .iter()
            .try_for_each(|(name, tensor)| tensor.check_values(name))
    }
}

impl IntoIterator for TensorMap {
    type Item = (String, HostTensor);
    type IntoIter = std::collections::btree_map::IntoIter<String, HostTensor>;

    fn into_iter(self) -> Self::IntoIter {
        self.tensors.into_iter()
    }
}

impl FromIterator<(String, HostTensor)> for TensorMap {
    fn from_iter<I: IntoIterator<Item = (String, HostTensor)>>(iter: I) -> Self {
        TensorMap {
            tensors: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_must_match_data() {
        assert!(HostTensor::new(vec![2, 3], vec![0.0; 6]).is_ok());
        let err = HostTensor::new(vec![2, 3], vec![0.0; 5]).unwrap_err();
        assert!(err.to_string().contains("needs 6 values, got 5"));
    }

    #[test]
    fn a_negative_running_variance_is_refused_by_name() {
        let tensor = HostTensor::new(vec![3], vec![1.0, 0.0, -5.0]).unwrap();
        let err = tensor
            .check_values("encoder.bn1.running_var")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "`encoder.bn1.running_var` holds -5 at flat index 2, but a variance cannot be negative"
            ),
            "{err}"
        );
        // Any other tensor may hold negative values; a variance of 0 is one.
        assert!(tensor.check_values("encoder.bn1.running_mean").is_ok());
        assert!(
            HostTensor::new(vec![2], vec![0.0, -0.0])
                .unwrap()
                .check_values("running_var")
                .is_ok()
        );
    }

    #[test]
    fn non_finite_values_are_named() {
        let tensor = HostTensor::new(vec![3], vec![1.0, f32::NAN, 2.0]).unwrap();
        let err = tensor.check_values("decoder.fcn.bias").unwrap_err().to_string();
        assert!(
            err.contains("`decoder.fcn.bias`") && err.contains("flat index 1"),
            "{err}"
        );
    }

    #[test]
    fn prefixes_rename_and_filter() {
        let mut map = TensorMap::new();
        let t = HostTensor::new(vec![1], vec![1.0]).unwrap();
        map.insert("encoder.resnet.0.weight", t.clone());
        map.insert("encoder.resnet.1.weight", t.clone());
        map.insert("decoder.fcn.weight", t);
        map.rename_prefix("encoder.resnet.", "encoder.");
        assert!(map.contains("encoder.0.weight") && map.contains("decoder.fcn.weight"));
        assert_eq!(map.remove_where(|n| n.starts_with("decoder.")), 1);
        assert_eq!(
            map.names().collect::<Vec<_>>(),
            ["encoder.0.weight", "encoder.1.weight"]
        );
    }
}
