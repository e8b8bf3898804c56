//! A pickle reader that builds values and never runs anything.
//!
//! `torch.save` writes a pickle whose "calls" name Python callables (`_rebuild_tensor_v2`,
//! `OrderedDict`, model classes). Executing them is how `torch.load` can be exploited; here each
//! call becomes an inert value: tensors and ordered dicts are recognised, every other object is
//! kept as its class name, arguments and state, which is enough to walk a pickled `nn.Module`'s
//! `_parameters`, `_buffers` and `_modules`.
//!
//! The machine is bounded whatever the pickle: it is iterative, values are shared rather than
//! copied (`DUP`, `GET` and the memo cost one reference count), its total work, memo and
//! container sizes are capped (`limits.rs`), values drop without recursion (`drop.rs`), no
//! reference cycle is ever closed (`cycles.rs`) and values are printed as short previews
//! (`preview.rs`).

mod calls;
mod cycles;
mod drop;
mod error;
mod limits;
mod machine;
mod opcode;
mod ops;
mod preview;
mod value;

pub use self::error::{PersistentIdError, PickleError, PickleErrorKind};
pub use self::limits::{MAX_CONTAINER, MAX_KEPT_BYTES, MAX_MEMO, MAX_RANK, MAX_TEXT, MAX_WORK};
pub use self::opcode::OpCode;
pub use self::preview::{PREVIEW_CHARS, PREVIEW_DEPTH, preview, preview_text};
pub use self::value::{ClassName, Object, Shared, StorageDtype, StorageRef, TensorRef, Value};

use self::machine::Machine;

/// How a persistent id (`BINPERSID`) becomes a value: the container decides.
pub trait PersistentLoad {
    fn load(&mut self, pid: &Value) -> Result<Value, PersistentIdError>;
}

/// Parses one pickle from the start of `data`, returning its value and the number of bytes it
/// took (the legacy container holds several pickles back to back).
pub fn parse(data: &[u8], persistent: &mut dyn PersistentLoad) -> Result<(Value, usize), PickleError> {
    let mut machine = Machine::new(data, persistent);
    let value = machine.run()?;
    Ok((value, machine.pos))
}

#[cfg(test)]
mod tests {
    use super::ops::long_from_bytes;
    use super::*;

    /// A container without persistent ids (shared with the other modules' tests).
    pub(super) struct NoPersistent;
    impl PersistentLoad for NoPersistent {
        fn load(&mut self, _: &Value) -> Result<Value, PersistentIdError> {
            Err(PersistentIdError::Unexpected("no persistent ids here".into()))
        }
    }

    // pickle.dumps({"a": [1, 2.5, "x"], "b": (True, None)}, protocol=2)
    const SIMPLE: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x03eX\x01\x00\x00\x00bq\x04\x88N\x86q\x05u.";

    #[test]
    fn reads_plain_values() {
        let (value, used) = parse(SIMPLE, &mut NoPersistent).unwrap();
        assert_eq!(used, SIMPLE.len());
        let Value::List(list) = &value.get("a").unwrap() else {
            panic!()
        };
        let list = list.borrow();
        assert!(matches!(list[0], Value::Int(1)));
        assert!(matches!(list[1], Value::Float(f) if f == 2.5));
        assert_eq!(list[2].as_str(), Some("x"));
        let Value::Tuple(t) = &value.get("b").unwrap() else {
            panic!()
        };
        assert!(matches!(t[0], Value::Bool(true)) && matches!(t[1], Value::None));
    }

    #[test]
    fn memoised_containers_are_shared() {
        // l = []; pickle.dumps([l, l]) then APPEND to the memoised list: both refer to one list.
        let data = b"\x80\x02]q\x00(]q\x01h\x01eh\x01K\x07a0.";
        let (value, _) = parse(data, &mut NoPersistent).unwrap();
        let Value::List(outer) = &value else { panic!() };
        let Value::List(inner) = &outer.borrow()[0] else {
            panic!()
        };
        assert_eq!(inner.borrow().len(), 1);
    }

    #[test]
    fn calls_are_never_executed() {
        // pickle.dumps of os.system("echo hi"): a GLOBAL and a REDUCE.
        let data = b"cposix\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85q\x02Rq\x03.";
        let (value, _) = parse(data, &mut NoPersistent).unwrap();
        let Value::Object(object) = &value else {
            panic!("{value:?}")
        };
        let object = object.borrow();
        assert_eq!((&*object.class.module, &*object.class.name), ("posix", "system"));
        assert_eq!(object.args[0].as_str(), Some("echo hi"));
    }

    #[test]
    fn malformed_pickles_give_errors() {
        assert!(
            parse(b"\x80\x02}q\x00(", &mut NoPersistent)
                .unwrap_err()
                .to_string()
                .contains("ends early")
        );
        assert!(
            parse(b"\x80\x02h\x05.", &mut NoPersistent)
                .unwrap_err()
                .to_string()
                .contains("memo entry 5")
        );
        assert!(
            parse(b"\x80\x02\xff", &mut NoPersistent)
                .unwrap_err()
                .to_string()
                .contains("opcode 0xff")
        );
        assert!(
            parse(b"\x80\x02.", &mut NoPersistent)
                .unwrap_err()
                .to_string()
                .contains("empty stack")
        );
        assert!(
            parse(b"\x80\x02e.", &mut NoPersistent)
                .unwrap_err()
                .to_string()
                .contains("MARK")
        );
    }

    #[test]
    fn long_integers() {
        assert!(matches!(long_from_bytes(&[0xff]), Value::Int(-1)));
        assert!(matches!(long_from_bytes(&[0x00, 0x01]), Value::Int(256)));
        let magic = long_from_bytes(&[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
        assert!(matches!(&magic, Value::Opaque(s) if s.as_str() == "0x1950a86a20f9469cfc6c"));
    }

    #[test]
    fn errors_name_the_opcode_and_its_offset() {
        let err = parse(b"\x80\x02\xff", &mut NoPersistent).unwrap_err();
        assert_eq!((err.offset, err.opcode), (2, None));
        assert!(matches!(err.kind, PickleErrorKind::UnsupportedOpcode(0xff)));
        assert!(err.to_string().contains("at offset 2"), "{err}");
        let err = parse(b"\x80\x02N\x85\x86.", &mut NoPersistent).unwrap_err();
        assert_eq!((err.offset, err.opcode), (4, Some(OpCode::Tuple2)));
        assert!(matches!(
            err.kind,
            PickleErrorKind::ShortStack { wanted: 2, len: 1 }
        ));
        let err = parse(b"\x80\x02Q.", &mut NoPersistent).unwrap_err();
        assert!(matches!(err.kind, PickleErrorKind::PopEmpty));
    }

    #[test]
    fn every_width_of_a_family_reads_alike() {
        // SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 of "hi"; BININT1, BININT2, BININT of 7.
        let data = b"\x80\x04(\x8c\x02hiX\x02\x00\x00\x00hi\x8d\x02\x00\x00\x00\x00\x00\x00\x00hi\
                     K\x07M\x07\x00J\x07\x00\x00\x00J\xff\xff\xff\xfft.";
        let (value, used) = parse(data, &mut NoPersistent).unwrap();
        assert_eq!(used, data.len());
        let Value::Tuple(items) = &value else {
            panic!("{value:?}")
        };
        assert!(items[..3].iter().all(|v| v.as_str() == Some("hi")));
        let ints: Vec<_> = items[3..].iter().map(Value::as_int).collect();
        assert_eq!(ints, [Some(7), Some(7), Some(7), Some(-1)]);
    }
}
