//! What can go wrong reading a pickle, and where.

use std::str::Utf8Error;

use thiserror::Error;

use super::opcode::OpCode;
use super::value::StorageDtype;

/// A pickle that cannot be read: the problem, and the opcode and offset where it arose.
#[derive(Debug, Error)]
#[error("{kind} ({}at offset {offset})", opcode_name(.opcode))]
pub struct PickleError {
    /// Byte offset of the opcode, from the start of this pickle.
    pub offset: usize,
    /// `None` when the opcode byte itself is the problem.
    pub opcode: Option<OpCode>,
    pub kind: PickleErrorKind,
}

/// `"BinUnicode "`, or nothing when the opcode byte was not one.
fn opcode_name(opcode: &Option<OpCode>) -> String {
    opcode.map_or_else(String::new, |op| format!("{op:?} "))
}

#[derive(Debug, Error)]
pub enum PickleErrorKind {
    #[error("pickle ends early: {wanted} bytes wanted at offset {at} of {len}")]
    Truncated { wanted: usize, at: usize, len: usize },
    #[error("unsupported pickle opcode 0x{0:02x}")]
    UnsupportedOpcode(u8),
    #[error("pickle protocol {0} is newer than 5")]
    Protocol(u8),
    #[error("pickle text field without a newline")]
    NoNewline,
    #[error("bad {what} {text:?} in pickle")]
    BadNumber { what: &'static str, text: String },
    #[error("a length of {0} bytes does not fit in memory")]
    Length(u64),
    #[error("invalid UTF-8 string in pickle: {0}")]
    Utf8(Utf8Error),
    #[error("pickle pops an empty stack")]
    PopEmpty,
    #[error("pickle reads the top of an empty stack")]
    TopEmpty,
    #[error("pickle builds a {wanted}-tuple from a stack of {len}")]
    ShortStack { wanted: usize, len: usize },
    #[error("pickle closes a MARK it never opened")]
    NoMark,
    #[error("pickle MARK above the stack")]
    MarkAboveStack,
    #[error("pickle refers to memo entry {0}, never stored")]
    MissingMemo(u32),
    #[error("pickle memo is full")]
    MemoFull,
    #[error("pickle does more than {limit} units of work (opcodes and values copied): refused as hostile")]
    WorkLimit { limit: u64 },
    #[error("pickle copies more than {limit} bytes of text (strings, names, lines): refused as hostile")]
    TextLimit { limit: usize },
    #[error("pickle memo would hold more than {limit} entries")]
    MemoLimit { limit: usize },
    #[error("pickle {kind} would hold {len} items, more than the limit of {limit}")]
    ContainerLimit {
        kind: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("pickle dict with an odd number of items")]
    OddDict,
    #[error("pickle appends to a {0}")]
    AppendTo(&'static str),
    #[error("pickle sets items on a {0}")]
    SetItemsOn(&'static str),
    #[error("pickle STACK_GLOBAL without two strings")]
    StackGlobal,
    #[error("{function} with {count} arguments")]
    TensorArgs { function: String, count: usize },
    #[error("{function} over a {found}, not a storage")]
    TensorStorage { function: String, found: &'static str },
    #[error("tensor offset is not a count")]
    TensorOffset,
    #[error("tensor {what} is a {found}, not a tuple")]
    TensorDims { what: &'static str, found: &'static str },
    #[error("tensor {what} holds {value}")]
    TensorDim { what: &'static str, value: String },
    #[error("tensor {what} has {rank} dimensions, more than the limit of {limit}")]
    TensorRank {
        what: &'static str,
        rank: usize,
        limit: usize,
    },
    #[error(transparent)]
    PersistentId(#[from] PersistentIdError),
}

/// A persistent id the container cannot turn into a storage. Values and names in these
/// messages are previews (at most 200 characters), never whole values.
#[derive(Debug, Error)]
pub enum PersistentIdError {
    #[error("unexpected persistent id {0}")]
    Unexpected(String),
    #[error("storage type is {0}")]
    StorageType(String),
    #[error("storage type torch.{0} is not supported")]
    UnsupportedDtype(String),
    #[error("storage key is not a string of at most 256 bytes")]
    Key,
    #[error("storage size is not a count")]
    Size,
    #[error("storage view offset is not a count")]
    ViewOffset,
    #[error("storage view size is not a count")]
    ViewSize,
    /// torch.save refuses to write one storage as two types, and torch.load would read the
    /// second as the first's: the numbers could not mean what the file says.
    #[error("storage {key:?} is named as {first:?} and again as {second:?}")]
    MixedDtypes {
        key: String,
        first: StorageDtype,
        second: StorageDtype,
    },
}
