//! Finding the tensors in a checkpoint's object tree, named as `state_dict()` would name them.

use std::collections::HashSet;

use crate::FoundTensor;
use crate::pickle::Value;

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
pub(crate) struct Walker {
    pub(crate) found: Vec<FoundTensor>,
    pub(crate) unsupported: Vec<String>,
}

impl Walker {
    pub(crate) fn value(&mut self, value: &Value, path: &str, depth: usize) {
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
