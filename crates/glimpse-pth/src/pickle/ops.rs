//! One handler per opcode, or per family of opcodes that differ only in their operand's width.

use std::rc::Rc;

use super::calls::{append, build, call, pairs, set_items};
use super::cycles::acyclic;
use super::error::PickleErrorKind;
use super::limits::check_container;
use super::machine::{Machine, Step};
use super::opcode::OpCode;
use super::preview::preview_text;
use super::value::{ClassName, Value};

/// The highest protocol Python writes today.
const MAX_PROTOCOL: u8 = 5;

impl Machine<'_> {
    pub(super) fn proto(&mut self) -> Step<()> {
        let protocol = self.byte()?;
        if protocol > MAX_PROTOCOL {
            return Err(PickleErrorKind::Protocol(protocol));
        }
        Ok(())
    }

    /// Frames only tell a streaming reader how much to buffer: the length is skipped.
    pub(super) fn frame(&mut self) -> Step<()> {
        self.array::<8>().map(drop)
    }

    pub(super) fn dup(&mut self) -> Step<()> {
        let top = self.top()?.clone();
        self.push(top);
        Ok(())
    }

    // Numbers.

    pub(super) fn int_line(&mut self) -> Step<()> {
        let line = self.line()?;
        let value = match line.as_str() {
            "00" => Value::Bool(false),
            "01" => Value::Bool(true),
            text => Value::Int(text.parse().map_err(|_| bad_number("INT", text))?),
        };
        self.push(value);
        Ok(())
    }

    /// BININT is signed 32-bit; BININT1 and BININT2 are unsigned.
    pub(super) fn bin_int(&mut self, opcode: OpCode) -> Step<()> {
        let value = match opcode {
            OpCode::BinInt => i64::from(i32::from_le_bytes(self.array()?)),
            OpCode::BinInt1 => i64::from(self.byte()?),
            _ => i64::from(u16::from_le_bytes(self.array()?)),
        };
        self.push(Value::Int(value));
        Ok(())
    }

    pub(super) fn long_line(&mut self) -> Step<()> {
        let line = self.line()?;
        let digits = line.trim_end_matches('L');
        let value = digits
            .parse::<i64>()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::opaque(format!("integer {}", preview_text(digits))));
        self.push(value);
        Ok(())
    }

    pub(super) fn long_bytes(&mut self, opcode: OpCode) -> Step<()> {
        let bytes = self.sized(opcode)?;
        self.push(long_from_bytes(bytes));
        Ok(())
    }

    pub(super) fn float_line(&mut self) -> Step<()> {
        let line = self.line()?;
        let value = line
            .trim()
            .parse::<f64>()
            .map_err(|_| bad_number("FLOAT", &line))?;
        self.push(Value::Float(value));
        Ok(())
    }

    pub(super) fn bin_float(&mut self) -> Step<()> {
        let value = f64::from_be_bytes(self.array()?);
        self.push(Value::Float(value));
        Ok(())
    }

    // Text and bytes.

    /// Protocol 0 string: a Python repr in quotes, kept without them.
    pub(super) fn string_line(&mut self) -> Step<()> {
        let line = self.line()?;
        let text = line.trim_matches(|c| c == '\'' || c == '"');
        self.push(Value::str(text));
        Ok(())
    }

    /// Python 2 byte strings, read as (lossy) text: they hold names and keys.
    pub(super) fn bin_string(&mut self, opcode: OpCode) -> Step<()> {
        let bytes = self.sized(opcode)?;
        // Invalid UTF-8 becomes U+FFFD, three bytes for one.
        let cost = || match std::str::from_utf8(bytes) {
            Ok(_) => bytes.len(),
            Err(_) => 3 * bytes.len(),
        };
        let value = match self.keeps(bytes.len(), cost) {
            true => Value::str(String::from_utf8_lossy(bytes)),
            false => not_kept("string", bytes.len()),
        };
        self.push(value);
        Ok(())
    }

    pub(super) fn unicode_line(&mut self) -> Step<()> {
        let line = self.line()?;
        self.push(Value::str(line));
        Ok(())
    }

    pub(super) fn bin_unicode(&mut self, opcode: OpCode) -> Step<()> {
        let bytes = self.sized(opcode)?;
        let value = match self.keeps(bytes.len(), || bytes.len()) {
            true => Value::str(std::str::from_utf8(bytes).map_err(PickleErrorKind::Utf8)?),
            false => not_kept("string", bytes.len()),
        };
        self.push(value);
        Ok(())
    }

    pub(super) fn bin_bytes(&mut self, opcode: OpCode) -> Step<()> {
        let bytes = self.sized(opcode)?;
        let value = match self.keeps(bytes.len(), || bytes.len()) {
            true => Value::Bytes(bytes.into()),
            false => not_kept("bytes", bytes.len()),
        };
        self.push(value);
        Ok(())
    }

    // Containers.

    pub(super) fn list(&mut self) -> Step<()> {
        let items = self.pop_mark()?;
        check_container("list", items.len())?;
        self.push(Value::list(items));
        Ok(())
    }

    pub(super) fn append(&mut self) -> Step<()> {
        let item = self.pop()?;
        let items = self.acyclic_items(vec![item])?;
        append(self.top()?, items)
    }

    pub(super) fn appends(&mut self) -> Step<()> {
        let items = self.pop_mark()?;
        let items = self.acyclic_items(items)?;
        append(self.top()?, items)
    }

    pub(super) fn tuple(&mut self) -> Step<()> {
        let items = self.pop_mark()?;
        check_container("tuple", items.len())?;
        self.push(Value::tuple(items));
        Ok(())
    }

    /// TUPLE1, TUPLE2, TUPLE3: the top one, two or three values.
    pub(super) fn short_tuple(&mut self, opcode: OpCode) -> Step<()> {
        let wanted = usize::from(opcode as u8 - OpCode::Tuple1 as u8) + 1;
        let len = self.stack.len();
        let start = len
            .checked_sub(wanted)
            .ok_or(PickleErrorKind::ShortStack { wanted, len })?;
        let items = self.stack.split_off(start);
        self.push(Value::tuple(items));
        Ok(())
    }

    pub(super) fn dict(&mut self) -> Step<()> {
        let items = self.pop_mark()?;
        check_container("dict", items.len() / 2)?;
        self.push(Value::dict(pairs(items)?));
        Ok(())
    }

    pub(super) fn set_item(&mut self) -> Step<()> {
        let value = self.pop()?;
        let key = self.pop()?;
        let pairs = self.acyclic_pairs(vec![(key, value)])?;
        set_items(self.top()?, pairs)
    }

    pub(super) fn set_items(&mut self) -> Step<()> {
        let items = self.pop_mark()?;
        let pairs = self.acyclic_pairs(pairs(items)?)?;
        set_items(self.top()?, pairs)
    }

    /// `items`, each kept as a description if storing it in the top container would close a
    /// reference cycle (`cycles.rs`).
    fn acyclic_items(&mut self, items: Vec<Value>) -> Step<Vec<Value>> {
        let container = self.top()?.clone();
        items
            .into_iter()
            .map(|item| acyclic(&container, item, &mut self.work))
            .collect()
    }

    fn acyclic_pairs(&mut self, pairs: Vec<(Value, Value)>) -> Step<Vec<(Value, Value)>> {
        let container = self.top()?.clone();
        pairs
            .into_iter()
            .map(|(key, value)| {
                let key = acyclic(&container, key, &mut self.work)?;
                Ok((key, acyclic(&container, value, &mut self.work)?))
            })
            .collect()
    }

    // Classes and calls: recorded, never executed.

    pub(super) fn global(&mut self) -> Step<()> {
        let module = self.line()?;
        let name = self.line()?;
        self.push(Value::Global(Rc::new(ClassName {
            module: module.into(),
            name: name.into(),
        })));
        Ok(())
    }

    pub(super) fn stack_global(&mut self) -> Step<()> {
        let name = self.pop()?;
        let module = self.pop()?;
        let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
            return Err(PickleErrorKind::StackGlobal);
        };
        let class = ClassName {
            module: module.clone(),
            name: name.clone(),
        };
        self.push(Value::Global(Rc::new(class)));
        Ok(())
    }

    /// REDUCE (`callable(*args)`) and NEWOBJ (`cls.__new__(cls, *args)`).
    pub(super) fn reduce(&mut self) -> Step<()> {
        let args = self.pop()?;
        let callable = self.pop()?;
        let value = call(&callable, &args, &mut self.work)?;
        self.push(value);
        Ok(())
    }

    /// NEWOBJ_EX: as NEWOBJ; the keyword arguments are dropped.
    pub(super) fn new_obj_ex(&mut self) -> Step<()> {
        let _kwargs = self.pop()?;
        self.reduce()
    }

    pub(super) fn build(&mut self) -> Step<()> {
        let state = self.pop()?;
        let state = self.acyclic_items(vec![state])?.remove(0);
        build(self.top()?, state);
        Ok(())
    }

    // Memo.

    pub(super) fn put_line(&mut self) -> Step<()> {
        let line = self.line()?;
        let index = line.parse().map_err(|_| bad_number("PUT", &line))?;
        self.memo_put(index)
    }

    pub(super) fn bin_put(&mut self, opcode: OpCode) -> Step<()> {
        let index = self.memo_index(opcode)?;
        self.memo_put(index)
    }

    pub(super) fn memoize(&mut self) -> Step<()> {
        let index = u32::try_from(self.memo.len()).map_err(|_| PickleErrorKind::MemoFull)?;
        self.memo_put(index)
    }

    pub(super) fn get_line(&mut self) -> Step<()> {
        let line = self.line()?;
        let index = line.parse().map_err(|_| bad_number("GET", &line))?;
        self.memo_get(index)
    }

    pub(super) fn bin_get(&mut self, opcode: OpCode) -> Step<()> {
        let index = self.memo_index(opcode)?;
        self.memo_get(index)
    }

    /// BINPUT/BINGET take a 1-byte index, LONG_BINPUT/LONG_BINGET a 4-byte one.
    fn memo_index(&mut self, opcode: OpCode) -> Step<u32> {
        match opcode {
            OpCode::BinPut | OpCode::BinGet => Ok(u32::from(self.byte()?)),
            _ => Ok(u32::from_le_bytes(self.array()?)),
        }
    }

    // Persistent ids: the container decides what they stand for.

    pub(super) fn pers_id(&mut self) -> Step<()> {
        let pid = Value::str(self.line()?);
        let value = self.persistent.load(&pid)?;
        self.push(value);
        Ok(())
    }

    pub(super) fn bin_pers_id(&mut self) -> Step<()> {
        let pid = self.pop()?;
        let value = self.persistent.load(&pid)?;
        self.push(value);
        Ok(())
    }
}

fn bad_number(what: &'static str, text: &str) -> PickleErrorKind {
    PickleErrorKind::BadNumber {
        what,
        text: preview_text(text),
    }
}

/// A two's-complement little-endian integer (LONG1, LONG4).
pub(super) fn long_from_bytes(bytes: &[u8]) -> Value {
    let Some(&last) = bytes.last() else {
        return Value::Int(0);
    };
    if bytes.len() > 16 {
        return Value::opaque(format!("a {}-byte integer", bytes.len()));
    }
    if bytes.len() > 8 {
        // Only the legacy container's magic number (10 bytes) is this long: keep its digits.
        let hex: String = bytes.iter().rev().map(|b| format!("{b:02x}")).collect();
        return Value::opaque(format!("0x{hex}"));
    }
    let mut buf = if last & 0x80 != 0 { [0xffu8; 8] } else { [0u8; 8] };
    buf[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(buf))
}

/// A string or `bytes` value kept only as its length (see [`super::MAX_KEPT_BYTES`]).
fn not_kept(kind: &str, len: usize) -> Value {
    Value::opaque(format!("a {len}-byte {kind} (not kept)"))
}
