//! Dropping a value without recursion.
//!
//! The derived drop of a nested value recurses once per level: two million nested one-element
//! tuples (a 4 MB pickle) overflow any thread's stack. A build-time nesting limit cannot prevent
//! that soundly, because containers are filled after they are nested (`APPEND` can deepen a list
//! that already sits inside another), so a depth recorded at construction goes stale. Instead,
//! dropping a value moves the children it owns alone onto a heap stack and drops them one by one:
//! each value is emptied before it is freed, so no drop ever recurses more than one level.
//! Children still shared elsewhere are left to their other owners; there are no cycles to
//! leak (`cycles.rs` never closes one).

use std::rc::Rc;

use super::value::Value;

impl Drop for Value {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        while let Some(mut child) = pending.pop() {
            child.take_children(&mut pending);
            // `child` is empty now: freeing it recurses no further.
        }
    }
}

impl Value {
    /// Moves the children of a container this value alone owns into `out`.
    fn take_children(&mut self, out: &mut Vec<Value>) {
        match self {
            Value::List(list) => {
                if let Some(cell) = Rc::get_mut(list) {
                    out.append(cell.get_mut());
                }
            }
            Value::Tuple(items) => {
                if let Some(items) = Rc::get_mut(items) {
                    out.append(items);
                }
            }
            Value::Dict(dict) => {
                if let Some(cell) = Rc::get_mut(dict) {
                    take_pairs(cell.get_mut(), out);
                }
            }
            Value::Object(object) => {
                if let Some(cell) = Rc::get_mut(object) {
                    let object = cell.get_mut();
                    out.append(&mut object.args);
                    out.extend(object.state.take());
                    take_pairs(&mut object.items, out);
                }
            }
            _ => {}
        }
    }
}

fn take_pairs(pairs: &mut Vec<(Value, Value)>, out: &mut Vec<Value>) {
    for (key, value) in pairs.drain(..) {
        out.push(key);
        out.push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deep_chain_drops_without_recursing() {
        let mut value = Value::None;
        for _ in 0..1_000_000 {
            value = Value::tuple(vec![value]);
        }
        let mut list = Value::list(Vec::new());
        for _ in 0..1_000_000 {
            list = Value::list(vec![list, Value::str("x")]);
        }
        drop((value, list));
    }

    #[test]
    fn shared_children_survive_their_parent() {
        let shared = Value::list(vec![Value::Int(1)]);
        drop(Value::tuple(vec![shared.clone(), shared.clone()]));
        let Value::List(items) = &shared else { panic!() };
        assert_eq!(items.borrow().len(), 1);
    }
}
