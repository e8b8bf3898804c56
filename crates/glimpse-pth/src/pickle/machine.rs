//! The pickle virtual machine: its input, stack, marks and memo, and the dispatch from each
//! opcode to its handler (the handlers are in `ops.rs`).

use std::collections::HashMap;

use super::error::{PickleError, PickleErrorKind};
use super::limits::{MAX_KEPT_BYTES, MAX_MEMO, MAX_TEXT, Work};
use super::opcode::OpCode;
use super::{PersistentLoad, Value};

pub(super) type Step<T> = Result<T, PickleErrorKind>;

pub(super) struct Machine<'a> {
    data: &'a [u8],
    pub(super) pos: usize,
    pub(super) stack: Vec<Value>,
    /// Stack heights at each MARK.
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u32, Value>,
    pub(super) persistent: &'a mut dyn PersistentLoad,
    /// What is left of the work budget: every opcode and every value a bulk operation moves.
    pub(super) work: Work,
}

impl<'a> Machine<'a> {
    pub(super) fn new(data: &'a [u8], persistent: &'a mut dyn PersistentLoad) -> Machine<'a> {
        Machine {
            data,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            persistent,
            work: Work::default(),
        }
    }

    /// Runs to the STOP opcode and returns the value it leaves.
    pub(super) fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let offset = self.pos;
            let opcode = self
                .work
                .charge(1)
                .and_then(|()| self.byte())
                .and_then(OpCode::try_from)
                .map_err(|kind| PickleError {
                    offset,
                    opcode: None,
                    kind,
                })?;
            let step = self.step(opcode).map_err(|kind| PickleError {
                offset,
                opcode: Some(opcode),
                kind,
            })?;
            if let Some(value) = step {
                return Ok(value);
            }
        }
    }

    /// Executes one opcode; `Some` is the pickle's value, at STOP.
    fn step(&mut self, opcode: OpCode) -> Step<Option<Value>> {
        use OpCode as Op;
        match opcode {
            Op::Stop => return self.pop().map(Some),
            Op::Proto => self.proto()?,
            Op::Frame => self.frame()?,
            Op::Mark => self.marks.push(self.stack.len()),
            Op::Pop => drop(self.pop()?),
            Op::PopMark => drop(self.pop_mark()?),
            Op::Dup => self.dup()?,
            Op::None => self.push(Value::None),
            Op::NewTrue => self.push(Value::Bool(true)),
            Op::NewFalse => self.push(Value::Bool(false)),
            Op::Int => self.int_line()?,
            Op::BinInt | Op::BinInt1 | Op::BinInt2 => self.bin_int(opcode)?,
            Op::Long => self.long_line()?,
            Op::Long1 | Op::Long4 => self.long_bytes(opcode)?,
            Op::Float => self.float_line()?,
            Op::BinFloat => self.bin_float()?,
            Op::String => self.string_line()?,
            Op::BinString | Op::ShortBinString => self.bin_string(opcode)?,
            Op::Unicode => self.unicode_line()?,
            Op::BinUnicode | Op::ShortBinUnicode | Op::BinUnicode8 => self.bin_unicode(opcode)?,
            Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8 | Op::ByteArray8 => self.bin_bytes(opcode)?,
            Op::EmptyList | Op::EmptySet => self.push(Value::list(Vec::new())),
            Op::List | Op::FrozenSet => self.list()?,
            Op::Append => self.append()?,
            Op::Appends | Op::AddItems => self.appends()?,
            Op::EmptyTuple => self.push(Value::tuple(Vec::new())),
            Op::Tuple => self.tuple()?,
            Op::Tuple1 | Op::Tuple2 | Op::Tuple3 => self.short_tuple(opcode)?,
            Op::EmptyDict => self.push(Value::dict(Vec::new())),
            Op::Dict => self.dict()?,
            Op::SetItem => self.set_item()?,
            Op::SetItems => self.set_items()?,
            Op::Global => self.global()?,
            Op::StackGlobal => self.stack_global()?,
            Op::Reduce | Op::NewObj => self.reduce()?,
            Op::NewObjEx => self.new_obj_ex()?,
            Op::Build => self.build()?,
            Op::Put => self.put_line()?,
            Op::BinPut | Op::LongBinPut => self.bin_put(opcode)?,
            Op::Memoize => self.memoize()?,
            Op::Get => self.get_line()?,
            Op::BinGet | Op::LongBinGet => self.bin_get(opcode)?,
            Op::PersId => self.pers_id()?,
            Op::BinPersId => self.bin_pers_id()?,
        }
        Ok(None)
    }

    // Input.

    pub(super) fn take(&mut self, n: usize) -> Step<&'a [u8]> {
        let data = self.data;
        let truncated = PickleErrorKind::Truncated {
            wanted: n,
            at: self.pos,
            len: data.len(),
        };
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= data.len())
            .ok_or(truncated)?;
        let bytes = &data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Step<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn byte(&mut self) -> Step<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// The little-endian length operand of a sized opcode, then that many bytes.
    pub(super) fn sized(&mut self, opcode: OpCode) -> Step<&'a [u8]> {
        let width = opcode.length_width().unwrap_or(0).min(8);
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(self.take(width)?);
        let length = u64::from_le_bytes(buf);
        let length = usize::try_from(length).map_err(|_| PickleErrorKind::Length(length))?;
        self.take(length)
    }

    /// Whether a string or `bytes` of `len` bytes, costing `cost()` bytes of text, is kept
    /// with its contents (then charged) rather than as a description ([`MAX_KEPT_BYTES`]).
    pub(super) fn keeps(&mut self, len: usize, cost: impl FnOnce() -> usize) -> bool {
        len <= MAX_KEPT_BYTES && self.work.try_charge_text(cost())
    }

    /// A newline-terminated text field (protocol 0), without its newline. Lines carry names
    /// (GLOBAL, persistent ids), so one past the text budget is refused, not described.
    pub(super) fn line(&mut self) -> Step<String> {
        let rest = &self.data[self.pos..];
        // Search no further than the budget reaches: a legacy file's rest may be gigabytes.
        let window = &rest[..rest.len().min(self.work.text_left().saturating_add(1))];
        let end = match window.iter().position(|&b| b == b'\n') {
            Some(end) => end,
            None if window.len() < rest.len() => return Err(PickleErrorKind::TextLimit { limit: MAX_TEXT }),
            None => return Err(PickleErrorKind::NoNewline),
        };
        self.work.charge_text(end)?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        // Invalid UTF-8 became U+FFFD, three bytes for one: the difference is charged too.
        self.work.charge_text(text.len() - end)?;
        self.pos += end + 1;
        Ok(text)
    }

    // Stack, marks and memo.

    pub(super) fn push(&mut self, value: Value) {
        self.stack.push(value);
    }

    pub(super) fn pop(&mut self) -> Step<Value> {
        self.stack.pop().ok_or(PickleErrorKind::PopEmpty)
    }

    pub(super) fn top(&mut self) -> Step<&mut Value> {
        self.stack.last_mut().ok_or(PickleErrorKind::TopEmpty)
    }

    /// Everything pushed since the last MARK, each value moved charged as work.
    pub(super) fn pop_mark(&mut self) -> Step<Vec<Value>> {
        let height = self.marks.pop().ok_or(PickleErrorKind::NoMark)?;
        let moved = self
            .stack
            .len()
            .checked_sub(height)
            .ok_or(PickleErrorKind::MarkAboveStack)?;
        self.work.charge(moved)?;
        Ok(self.stack.split_off(height))
    }

    /// Stores the top of the stack; a new index beyond [`MAX_MEMO`] entries is refused.
    pub(super) fn memo_put(&mut self, index: u32) -> Step<()> {
        let top = self.top()?.clone();
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&index) {
            return Err(PickleErrorKind::MemoLimit { limit: MAX_MEMO });
        }
        self.memo.insert(index, top);
        Ok(())
    }

    pub(super) fn memo_get(&mut self, index: u32) -> Step<()> {
        let value = self
            .memo
            .get(&index)
            .cloned()
            .ok_or(PickleErrorKind::MissingMemo(index))?;
        self.push(value);
        Ok(())
    }
}
