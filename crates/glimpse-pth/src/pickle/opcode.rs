//! The pickle opcodes this reader understands (protocols 0 to 5, as `torch.save` and Python's
//! `pickle` write them). Names follow CPython's `pickletools`.

use super::error::PickleErrorKind;

/// Declares `OpCode` and its byte mapping from one list, so the two cannot drift apart.
macro_rules! opcodes {
    ($($(#[doc = $doc:literal])* $name:ident = $byte:literal,)*) => {
        /// One pickle instruction, by its byte.
        #[repr(u8)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum OpCode {
            $($(#[doc = $doc])* $name = $byte,)*
        }

        impl OpCode {
            /// Every opcode this reader knows, in the order above.
            pub const ALL: &'static [OpCode] = &[$(OpCode::$name,)*];
        }

        impl TryFrom<u8> for OpCode {
            type Error = PickleErrorKind;

            /// Unknown bytes and the opcodes this reader leaves out (`INST`, `OBJ`, the
            /// extension registry, out-of-band buffers) are refused alike.
            fn try_from(byte: u8) -> Result<OpCode, PickleErrorKind> {
                match byte {
                    $($byte => Ok(OpCode::$name),)*
                    other => Err(PickleErrorKind::UnsupportedOpcode(other)),
                }
            }
        }
    };
}

opcodes! {
    /// Protocol version (protocol 2+).
    Proto = 0x80,
    /// A frame length: only a buffering hint (protocol 4+).
    Frame = 0x95,
    /// End of the pickle: its value is the top of the stack.
    Stop = b'.',
    Mark = b'(',
    Pop = b'0',
    PopMark = b'1',
    Dup = b'2',
    None = b'N',
    NewTrue = 0x88,
    NewFalse = 0x89,
    /// Decimal integer line (`00`/`01` are booleans).
    Int = b'I',
    /// Signed 4-byte integer.
    BinInt = b'J',
    /// Unsigned 1-byte integer.
    BinInt1 = b'K',
    /// Unsigned 2-byte integer.
    BinInt2 = b'M',
    /// Decimal long line, with a trailing `L`.
    Long = b'L',
    /// Two's-complement little-endian long, 1-byte length.
    Long1 = 0x8a,
    /// Two's-complement little-endian long, 4-byte length.
    Long4 = 0x8b,
    /// Float as a text line.
    Float = b'F',
    /// Big-endian 8-byte float.
    BinFloat = b'G',
    /// Protocol 0 string: a quoted Python repr.
    String = b'S',
    BinString = b'T',
    ShortBinString = b'U',
    /// Raw-unicode-escaped text line.
    Unicode = b'V',
    BinUnicode = b'X',
    ShortBinUnicode = 0x8c,
    BinUnicode8 = 0x8d,
    BinBytes = b'B',
    ShortBinBytes = b'C',
    BinBytes8 = 0x8e,
    ByteArray8 = 0x96,
    EmptyList = b']',
    List = b'l',
    Append = b'a',
    Appends = b'e',
    EmptyTuple = b')',
    Tuple = b't',
    Tuple1 = 0x85,
    Tuple2 = 0x86,
    Tuple3 = 0x87,
    EmptyDict = b'}',
    Dict = b'd',
    SetItem = b's',
    SetItems = b'u',
    /// Sets are kept as lists.
    EmptySet = 0x8f,
    AddItems = 0x90,
    FrozenSet = 0x91,
    /// `module\nname\n` text lines.
    Global = b'c',
    /// Module and name from the stack (protocol 4+).
    StackGlobal = 0x93,
    Reduce = b'R',
    NewObj = 0x81,
    NewObjEx = 0x92,
    Build = b'b',
    Put = b'p',
    BinPut = b'q',
    LongBinPut = b'r',
    /// Store the top of the stack under the next memo index (protocol 4+).
    Memoize = 0x94,
    Get = b'g',
    BinGet = b'h',
    LongBinGet = b'j',
    /// Persistent id as a text line.
    PersId = b'P',
    /// Persistent id from the stack: how `torch.save` names storages.
    BinPersId = b'Q',
}

impl OpCode {
    /// Width in bytes of the little-endian length that precedes the data of a sized opcode,
    /// for the families that differ only in it (`SHORT_BINUNICODE`/`BINUNICODE`/`BINUNICODE8`…).
    pub fn length_width(self) -> Option<usize> {
        use OpCode as Op;
        match self {
            Op::Long1 | Op::ShortBinString | Op::ShortBinUnicode | Op::ShortBinBytes => Some(1),
            Op::Long4 | Op::BinString | Op::BinUnicode | Op::BinBytes => Some(4),
            Op::BinUnicode8 | Op::BinBytes8 | Op::ByteArray8 => Some(8),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_round_trips_through_its_byte() {
        for &op in OpCode::ALL {
            assert_eq!(OpCode::try_from(op as u8).ok(), Some(op));
        }
        let known = OpCode::ALL.len();
        let accepted = (0..=u8::MAX).filter(|&b| OpCode::try_from(b).is_ok()).count();
        assert_eq!(known, accepted);
    }

    #[test]
    fn left_out_opcodes_are_refused_by_byte() {
        for byte in [b'i', b'o', 0x82, 0x97, 0xff] {
            assert!(matches!(
                OpCode::try_from(byte),
                Err(PickleErrorKind::UnsupportedOpcode(b)) if b == byte
            ));
        }
    }
}
