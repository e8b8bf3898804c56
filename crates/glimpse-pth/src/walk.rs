//! Finding the tensors in a checkpoint's object tree, named as `state_dict()` would name them.
//!
//! The object tree is a graph: the memo lets a pickle share a container under many paths (64
//! levels of `x = [x, x]` is 2^64 paths in 995 bytes) or put one inside itself. The walk visits
//! each container once (the first path that reaches it names what is below it), stops at
//! [`MAX_DEPTH`] levels, and records at most [`MAX_FOUND`] entries with names of at most
//! [`MAX_NAME_BYTES`]; whatever it leaves out is reported in `left_out`, never dropped
//! silently. Tensors themselves are leaves and are named under every path, as tied weights are.

use std::collections::HashSet;

use crate::FoundTensor;
use crate::pickle::{PREVIEW_CHARS, Value, preview_text};

/// Deeper than any real model (sgrvinod's pickled modules nest about 20 levels).
pub const MAX_DEPTH: usize = 64;

/// Tensors (and unsupported entries) recorded: a ResNet-152 state dict has about 1,000, with
/// an optimizer's state about 3,000.
pub const MAX_FOUND: usize = 1 << 18;

/// The longest tensor name: real ones are under 100 bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Collects tensors from an object tree, naming each by its path.
#[derive(Default)]
pub(crate) struct Walker {
    pub(crate) found: Vec<FoundTensor>,
    /// Tensors of kinds this reader cannot represent, as `path: description`.
    pub(crate) unsupported: Vec<String>,
    /// Parts of the tree the walk did not search, as `path: why`.
    pub(crate) left_out: Vec<String>,
    /// Containers already walked, by address (they stay alive, owned by the tree, meanwhile).
    visited: HashSet<usize>,
    /// Set once [`MAX_FOUND`] is reached: the walk stops.
    full: bool,
}

impl Walker {
    pub(crate) fn value(&mut self, value: &Value, path: &str, depth: usize) {
        if self.full {
            return;
        }
        if depth > MAX_DEPTH {
            self.skip(
                path,
                &format!("nested deeper than {MAX_DEPTH} levels; not searched for tensors"),
            );
            return;
        }
        if !self.first_visit(value) {
            return;
        }
        match value {
            Value::Tensor(tensor) => {
                let tensor = FoundTensor {
                    name: path.to_string(),
                    tensor: tensor.clone(),
                };
                self.record(|walker| walker.found.push(tensor));
            }
            Value::Opaque(description) if description.contains("tensor") => {
                let entry = format!("{}: {description}", preview_text(path));
                self.record(|walker| walker.unsupported.push(entry));
            }
            Value::Dict(items) => self.items(&items.borrow(), path, depth),
            Value::List(items) => self.sequence(&items.borrow(), path, depth),
            Value::Tuple(items) => self.sequence(items, path, depth),
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

    /// Whether `value` is a leaf or a container not walked before (and now marked walked).
    fn first_visit(&mut self, value: &Value) -> bool {
        let address = match value {
            Value::Dict(items) => items.as_ptr() as usize,
            Value::List(items) => items.as_ptr() as usize,
            Value::Tuple(items) => std::rc::Rc::as_ptr(items) as usize,
            Value::Object(object) => object.as_ptr() as usize,
            _ => return true,
        };
        self.visited.insert(address)
    }

    /// Records an entry unless [`MAX_FOUND`] is reached, in which case the walk ends with a note.
    fn record(&mut self, push: impl FnOnce(&mut Walker)) {
        if self.found.len() + self.unsupported.len() + self.left_out.len() >= MAX_FOUND {
            self.full = true;
            self.left_out.push(format!(
                "more than {MAX_FOUND} tensors: the rest of the checkpoint was not searched"
            ));
            return;
        }
        push(self);
    }

    /// Notes a part of the tree left out, and why.
    fn skip(&mut self, path: &str, why: &str) {
        let entry = format!("{}: {why}", preview_text(path));
        self.record(|walker| walker.left_out.push(entry));
    }

    fn sequence(&mut self, items: &[Value], path: &str, depth: usize) {
        for (i, item) in items.iter().enumerate() {
            if worth_visiting(item) {
                self.child(item, path, &i.to_string(), depth);
            }
        }
    }

    fn items(&mut self, items: &[(Value, Value)], path: &str, depth: usize) {
        for (key, value) in items {
            if !worth_visiting(value) {
                continue;
            }
            match key {
                Value::Str(name) => self.child(value, path, name, depth),
                Value::Int(i) => self.child(value, path, &i.to_string(), depth),
                _ => {}
            }
        }
    }

    /// Walks `value` under `path.name`, unless that name would be too long.
    fn child(&mut self, value: &Value, path: &str, name: &str, depth: usize) {
        if path.len() + 1 + name.len() > MAX_NAME_BYTES {
            // Named by its start (one character past what a preview shows, so it shows `…`);
            // at the top level `path` is empty.
            let dot = if path.is_empty() { "" } else { "." };
            let start: String = path
                .chars()
                .chain(dot.chars())
                .chain(name.chars())
                .take(PREVIEW_CHARS + 1)
                .collect();
            self.skip(
                &start,
                &format!("a name longer than {MAX_NAME_BYTES} bytes; not searched"),
            );
            return;
        }
        let joined = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        self.value(value, &joined, depth + 1);
    }

    /// An `nn.Module`'s attribute dict, in `state_dict()` order: parameters, persistent buffers,
    /// then each child module.
    fn module(&mut self, state: &Value, path: &str, depth: usize) {
        let non_persistent = non_persistent_buffers(state);
        if let Some(Value::Dict(parameters)) = &state.get("_parameters") {
            self.items(&parameters.borrow(), path, depth);
        }
        if let Some(Value::Dict(buffers)) = &state.get("_buffers") {
            let persistent: Vec<(Value, Value)> = buffers
                .borrow()
                .iter()
                .filter(|(k, _)| k.as_str().is_none_or(|name| !non_persistent.contains(name)))
                .cloned()
                .collect();
            self.items(&persistent, path, depth);
        }
        if let Some(Value::Dict(modules)) = &state.get("_modules") {
            self.items(&modules.borrow(), path, depth);
        }
    }
}

/// Only tensors, tensor-like descriptions and containers can hold what the walk looks for.
fn worth_visiting(value: &Value) -> bool {
    matches!(
        value,
        Value::Tensor(_)
            | Value::Opaque(_)
            | Value::Dict(_)
            | Value::List(_)
            | Value::Tuple(_)
            | Value::Object(_)
    )
}

/// The names in a module's `_non_persistent_buffers_set` (a pickled `set`).
fn non_persistent_buffers(state: &Value) -> HashSet<String> {
    let found = state.get("_non_persistent_buffers_set");
    let Some(Value::Object(set)) = &found else {
        return HashSet::new();
    };
    let set = set.borrow();
    let Some(Value::List(names)) = set.args.first() else {
        return HashSet::new();
    };
    names
        .borrow()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}
