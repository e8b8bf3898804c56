//! A bounded rendering of a value for error messages and `Debug`.
//!
//! A pickle's values can be huge (a list of millions of items), deep, or cyclic (a list that
//! contains itself); printing one whole once made a 201 MB error message. A preview stops at
//! [`PREVIEW_CHARS`] characters and [`PREVIEW_DEPTH`] levels: writing stops as soon as the
//! budget is spent, so the time taken is bounded too, whatever the value.

use std::fmt::{self, Write};

use super::value::{Object, Value};

/// The longest preview, in characters (an ellipsis follows when cut).
pub const PREVIEW_CHARS: usize = 200;

/// Levels of nesting shown; deeper containers print as `…`.
pub const PREVIEW_DEPTH: usize = 6;

/// At most `PREVIEW_CHARS` characters of `value`, Python-like, with `…` where it was cut.
pub fn preview(value: &Value) -> String {
    bounded(|w| write_value(w, value, 0))
}

/// At most `PREVIEW_CHARS` characters of `text`, with `…` where it was cut.
pub fn preview_text(text: &str) -> String {
    bounded(|w| w.write_str(text))
}

fn bounded(render: impl FnOnce(&mut Budgeted) -> fmt::Result) -> String {
    let mut out = Budgeted {
        text: String::new(),
        left: PREVIEW_CHARS,
    };
    if render(&mut out).is_err() {
        out.text.push('…');
    }
    out.text
}

/// A string that refuses writes past its budget, which ends the rendering early.
struct Budgeted {
    text: String,
    left: usize,
}

impl Write for Budgeted {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.left == 0 {
                return Err(fmt::Error);
            }
            self.text.push(c);
            self.left -= 1;
        }
        Ok(())
    }
}

fn write_value(w: &mut Budgeted, value: &Value, depth: usize) -> fmt::Result {
    match value {
        Value::None => w.write_str("None"),
        Value::Bool(b) => w.write_str(if *b { "True" } else { "False" }),
        Value::Int(v) => write!(w, "{v}"),
        Value::Float(v) => write!(w, "{v:?}"),
        Value::Str(s) => write!(w, "{:?}", &**s),
        Value::Bytes(b) => write!(w, "b'{}'", b.escape_ascii()),
        Value::Global(g) => write!(w, "{}.{}", g.module, g.name),
        Value::Storage(s) => write!(w, "storage({:?}, {:?}, {} elements)", s.key, s.dtype, s.numel),
        Value::Tensor(t) => write!(w, "tensor(shape {:?}, stride {:?})", t.shape, t.stride),
        Value::Opaque(s) => w.write_str(s),
        _ if depth >= PREVIEW_DEPTH => w.write_str("…"),
        Value::List(items) => match items.try_borrow() {
            Ok(items) => write_seq(w, ("[", "]"), &items, depth),
            Err(_) => w.write_str("[…]"),
        },
        Value::Tuple(items) => write_seq(w, ("(", ")"), items, depth),
        Value::Dict(items) => match items.try_borrow() {
            Ok(items) => write_pairs(w, &items, depth),
            Err(_) => w.write_str("{…}"),
        },
        Value::Object(object) => match object.try_borrow() {
            Ok(object) => write_object(w, &object, depth),
            Err(_) => w.write_str("<object>"),
        },
    }
}

fn write_seq(w: &mut Budgeted, (open, close): (&str, &str), items: &[Value], depth: usize) -> fmt::Result {
    w.write_str(open)?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write_value(w, item, depth + 1)?;
    }
    w.write_str(close)
}

fn write_pairs(w: &mut Budgeted, pairs: &[(Value, Value)], depth: usize) -> fmt::Result {
    w.write_str("{")?;
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write_value(w, key, depth + 1)?;
        w.write_str(": ")?;
        write_value(w, value, depth + 1)?;
    }
    w.write_str("}")
}

fn write_object(w: &mut Budgeted, object: &Object, depth: usize) -> fmt::Result {
    write!(w, "{}.{}", object.class.module, object.class.name)?;
    write_seq(w, ("(", ")"), &object.args, depth)?;
    if let Some(state) = &object.state {
        w.write_str(" state ")?;
        write_value(w, state, depth + 1)?;
    }
    if !object.items.is_empty() {
        w.write_str(" items ")?;
        write_pairs(w, &object.items, depth)?;
    }
    Ok(())
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&preview(self))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&preview(self))
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bounded(|w| write_object(w, self, 0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_and_cyclic_values_preview_briefly() {
        let huge = Value::list((0..1_000_000).map(Value::Int).collect());
        let text = format!("{huge:?}");
        assert!(text.starts_with("[0, 1, 2") && text.ends_with('…'), "{text}");
        assert_eq!(text.chars().count(), PREVIEW_CHARS + 1);
        let cyclic = Value::list(Vec::new());
        if let Value::List(items) = &cyclic {
            items.borrow_mut().push(cyclic.clone());
        }
        assert_eq!(format!("{cyclic}"), "[[[[[[…]]]]]]");
        if let Value::List(items) = &cyclic {
            items.borrow_mut().clear(); // break the cycle
        }
        assert_eq!(preview_text(&"x".repeat(300)).chars().count(), PREVIEW_CHARS + 1);
        assert_eq!(format!("{:?}", Value::str("hi")), "\"hi\"");
    }
}
