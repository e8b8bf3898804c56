//! Values that would close a reference cycle are not stored.
//!
//! APPEND, SETITEM(S) and BUILD put values into a container that already exists, so a pickle
//! can make a container hold itself (`l.append(l)`, or through any chain of lists, tuples, dicts
//! and objects). Reference counting never frees a cycle (the fuzzer's leak checker found one),
//! and no tensor is ever found through one (the walker visits each value once), so a value that
//! reaches its new container is kept as a short description instead. Looking costs one unit of
//! work per value visited; each value is visited at most once per check.

use std::collections::HashSet;
use std::rc::Rc;

use super::limits::Work;
use super::machine::Step;
use super::value::Value;

/// `value`, or a description of it when it reaches `container` (storing it there would close
/// a cycle).
pub(super) fn acyclic(container: &Value, value: Value, work: &mut Work) -> Step<Value> {
    let Some(target) = address(container) else {
        return Ok(value);
    };
    if reaches(&value, target, work)? {
        return Ok(Value::opaque(format!(
            "a {} holding the {} it is stored in (a reference cycle, not followed)",
            value.kind(),
            container.kind()
        )));
    }
    Ok(value)
}

/// Whether the container at `target` is `from` or inside it.
fn reaches(from: &Value, target: *const (), work: &mut Work) -> Step<bool> {
    let mut seen = HashSet::new();
    let mut pending = vec![from.clone()];
    while let Some(value) = pending.pop() {
        work.charge(1)?;
        let Some(at) = address(&value) else {
            continue;
        };
        if at == target {
            return Ok(true);
        }
        if seen.insert(at) {
            push_children(&value, &mut pending);
        }
    }
    Ok(false)
}

/// The identity of a value that can hold others.
fn address(value: &Value) -> Option<*const ()> {
    match value {
        Value::List(items) => Some(Rc::as_ptr(items).cast()),
        Value::Tuple(items) => Some(Rc::as_ptr(items).cast()),
        Value::Dict(pairs) => Some(Rc::as_ptr(pairs).cast()),
        Value::Object(object) => Some(Rc::as_ptr(object).cast()),
        _ => None,
    }
}

fn push_children(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::List(items) => out.extend(items.borrow().iter().cloned()),
        Value::Tuple(items) => out.extend(items.iter().cloned()),
        Value::Dict(pairs) => push_pairs(&pairs.borrow(), out),
        Value::Object(object) => {
            let object = object.borrow();
            out.extend(object.args.iter().cloned());
            out.extend(object.state.iter().cloned());
            push_pairs(&object.items, out);
        }
        _ => {}
    }
}

fn push_pairs(pairs: &[(Value, Value)], out: &mut Vec<Value>) {
    for (key, value) in pairs {
        out.push(key.clone());
        out.push(value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::super::tests::NoPersistent;
    use super::*;

    fn first_item(list: &Value) -> Value {
        let Value::List(items) = list else {
            panic!("{list:?}")
        };
        items.borrow()[0].clone()
    }

    #[test]
    fn a_list_appended_to_itself_is_described_not_stored() {
        // l = []; l.append(l): EMPTY_LIST, MEMOIZE-free DUP, APPEND.
        let (value, _) = parse(b"\x80\x02]2a.", &mut NoPersistent).unwrap();
        let item = first_item(&value);
        assert!(
            matches!(&item, Value::Opaque(text) if text.contains("reference cycle")),
            "{item:?}"
        );
        let Value::List(items) = &value else { panic!() };
        assert_eq!(
            Rc::strong_count(items),
            1,
            "the list is freed with its last owner"
        );
    }

    #[test]
    fn a_cycle_through_a_tuple_and_a_dict_is_broken_where_it_closes() {
        // l = []; d = {"k": (l,)}; l.append(d): the dict reaches l through the tuple.
        let pickle = b"\x80\x02]q\x00}q\x01X\x01\x00\x00\x00kh\x00\x85sh\x00h\x01a0.";
        let (value, _) = parse(pickle, &mut NoPersistent).unwrap();
        let Value::Dict(pairs) = &value else {
            panic!("{value:?}")
        };
        let Value::Tuple(tuple) = &pairs.borrow()[0].1 else {
            panic!()
        };
        let list = &tuple[0];
        assert!(matches!(&first_item(list), Value::Opaque(text) if text.contains("dict holding the list")));
    }

    #[test]
    fn shared_values_that_close_no_cycle_are_stored() {
        // l = [1]; [l, l]: shared, not cyclic.
        let (value, _) = parse(b"\x80\x02]q\x00K\x01a]q\x01(h\x00h\x00e.", &mut NoPersistent).unwrap();
        let Value::List(outer) = &value else { panic!() };
        assert!(outer.borrow().iter().all(|v| matches!(v, Value::List(_))));
    }
}
