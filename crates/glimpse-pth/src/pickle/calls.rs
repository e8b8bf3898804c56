//! What REDUCE, NEWOBJ, BUILD and the container opcodes do to values, without running anything:
//! the few callables that matter (tensor rebuilds, `OrderedDict`, `torch.Size`) are recognised,
//! every other call becomes an inert [`Object`].

use std::rc::Rc;

use super::error::PickleErrorKind;
use super::limits::{MAX_RANK, Work, check_container};
use super::machine::Step;
use super::preview::preview_text;
use super::value::{Object, TensorRef, Value};

/// Flat `[k0, v0, k1, v1, …]` from the stack into `(key, value)` pairs.
pub(super) fn pairs(items: Vec<Value>) -> Step<Vec<(Value, Value)>> {
    if !items.len().is_multiple_of(2) {
        return Err(PickleErrorKind::OddDict);
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut iter = items.into_iter();
    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
        out.push((k, v));
    }
    Ok(out)
}

pub(super) fn append(target: &mut Value, items: Vec<Value>) -> Step<()> {
    match target {
        Value::List(list) => {
            let mut list = list.borrow_mut();
            check_container("list", list.len().saturating_add(items.len()))?;
            list.extend(items);
        }
        // A list subclass: keep the elements as (index, value) items.
        Value::Object(object) => {
            let mut object = object.borrow_mut();
            let start = object.items.len();
            check_container("object", start.saturating_add(items.len()))?;
            let indexed = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (index_key(start + i), v));
            object.items.extend(indexed);
        }
        other => return Err(PickleErrorKind::AppendTo(other.kind())),
    }
    Ok(())
}

fn index_key(index: usize) -> Value {
    Value::Int(i64::try_from(index).unwrap_or(i64::MAX))
}

pub(super) fn set_items(target: &mut Value, items: Vec<(Value, Value)>) -> Step<()> {
    let (kind, mut existing) = match target {
        Value::Dict(dict) => ("dict", dict.borrow_mut()),
        Value::Object(object) => {
            let object = object.borrow_mut();
            ("object", std::cell::RefMut::map(object, |o| &mut o.items))
        }
        other => return Err(PickleErrorKind::SetItemsOn(other.kind())),
    };
    check_container(kind, existing.len().saturating_add(items.len()))?;
    existing.extend(items);
    Ok(())
}

/// BUILD: attach the state to the object under construction.
pub(super) fn build(target: &mut Value, state: Value) {
    if let Value::Object(object) = target {
        // `(dict_state, slot_state)` tuples carry the attribute dict first.
        let dict_state = match &state {
            Value::Tuple(parts) if parts.len() == 2 && matches!(parts[0], Value::Dict(_)) => {
                Some(parts[0].clone())
            }
            _ => None,
        };
        let state = dict_state.unwrap_or(state);
        object.borrow_mut().state = Some(state);
    }
    // Tensors, dicts and the rest take no state the reader needs.
}

/// REDUCE / NEWOBJ: recognise the few callables that matter, keep every other call inert.
/// Copying the arguments is charged to `work`.
pub(super) fn call(callable: &Value, args: &Value, work: &mut Work) -> Step<Value> {
    let Value::Global(global) = callable else {
        return Ok(Value::opaque(format!("call of a {}", callable.kind())));
    };
    let (module, name) = (&*global.module, &*global.name);
    let args = tuple_items(args, work)?;
    match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => rebuild_tensor(name, &args, work),
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Ok(args.into_iter().next().unwrap_or(Value::None))
        }
        ("torch", "Size") => Ok(args
            .into_iter()
            .next()
            .unwrap_or_else(|| Value::tuple(Vec::new()))),
        ("collections", "OrderedDict") | ("builtins" | "__builtin__", "dict") => dict_from_pairs(&args, work),
        ("torch._utils", other) if other.starts_with("_rebuild_") => Ok(Value::opaque(format!(
            "a tensor rebuilt by torch._utils.{} (sparse, quantized, nested or meta tensors are not supported)",
            preview_text(other)
        ))),
        ("copyreg", "_reconstructor") => {
            // _reconstructor(cls, base, state): an object of `cls`.
            let class = match args.first() {
                Some(Value::Global(g)) => g.clone(),
                _ => global.clone(),
            };
            Ok(Value::object(Object::new(class)))
        }
        _ => Ok(Value::object(Object {
            args,
            ..Object::new(global.clone())
        })),
    }
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, …)`: a strided view of a storage. Its
/// geometry is checked against the storage when it is read (`strided.rs`); here only its rank.
fn rebuild_tensor(function: &str, args: &[Value], work: &mut Work) -> Step<Value> {
    let [storage, offset, size, stride, ..] = args else {
        return Err(PickleErrorKind::TensorArgs {
            function: function.to_string(),
            count: args.len(),
        });
    };
    let Value::Storage(storage) = storage else {
        return Err(PickleErrorKind::TensorStorage {
            function: function.to_string(),
            found: storage.kind(),
        });
    };
    Ok(Value::Tensor(Rc::new(TensorRef {
        storage: storage.clone(),
        offset: offset.as_count().ok_or(PickleErrorKind::TensorOffset)?,
        shape: usize_list(size, "size", work)?,
        stride: usize_list(stride, "stride", work)?,
    })))
}

/// `OrderedDict([(k, v), …])` and `dict(…)`: the pairs of the first argument, in order.
fn dict_from_pairs(args: &[Value], work: &mut Work) -> Step<Value> {
    let mut dict = Vec::new();
    let items = match args.first() {
        Some(first) => tuple_items(first, work)?,
        None => Vec::new(),
    };
    for item in &items {
        if let Value::Tuple(pair) = item
            && let [key, value] = pair.as_slice()
        {
            dict.push((key.clone(), value.clone()));
        }
    }
    Ok(Value::dict(dict))
}

/// The items of a tuple or list argument (a copy, charged as work), or the argument alone.
fn tuple_items(args: &Value, work: &mut Work) -> Step<Vec<Value>> {
    Ok(match args {
        Value::Tuple(items) => {
            work.charge(items.len())?;
            items.to_vec()
        }
        Value::List(items) => {
            let items = items.borrow();
            work.charge(items.len())?;
            items.clone()
        }
        Value::None => Vec::new(),
        other => vec![other.clone()],
    })
}

/// A tensor's size or stride, of at most [`MAX_RANK`] dimensions. `torch.Size` pickles as a
/// tuple subclass, which `call` has already turned into its tuple argument.
fn usize_list(value: &Value, what: &'static str, work: &mut Work) -> Step<Vec<usize>> {
    if !matches!(value, Value::Tuple(_) | Value::List(_)) {
        return Err(PickleErrorKind::TensorDims {
            what,
            found: value.kind(),
        });
    }
    let items = tuple_items(value, work)?;
    if items.len() > MAX_RANK {
        return Err(PickleErrorKind::TensorRank {
            what,
            rank: items.len(),
            limit: MAX_RANK,
        });
    }
    items
        .iter()
        .map(|v| {
            v.as_count().ok_or_else(|| PickleErrorKind::TensorDim {
                what,
                value: format!("{v:?}"),
            })
        })
        .collect()
}
