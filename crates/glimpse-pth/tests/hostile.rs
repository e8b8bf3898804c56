//! Hostile checkpoints, crafted here opcode by opcode: each class the hostile campaign found
//! (issue 14: deep pickles, exponential sharing, untrusted tensor geometry, ambiguous archives)
//! gets a precise error or a fast, bounded result, never a crash, a hang or a huge allocation.

use std::io::{Cursor, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use glimpse_pth::pickle::{
    MAX_CONTAINER, MAX_KEPT_BYTES, MAX_MEMO, MAX_TEXT, MAX_WORK, PREVIEW_CHARS, PersistentIdError,
    PersistentLoad, PickleErrorKind, Value, parse,
};
use glimpse_pth::{MAX_DEPTH, MAX_ELEMENTS, MAX_FOUND, PthError, PthFile};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// A pickle under construction: one method per opcode.
struct Pickle(Vec<u8>);

impl Pickle {
    /// `PROTO 2`.
    fn new() -> Pickle {
        Pickle(vec![0x80, 2])
    }

    fn op(&mut self, bytes: &[u8]) -> &mut Pickle {
        self.0.extend_from_slice(bytes);
        self
    }

    fn mark(&mut self) -> &mut Pickle {
        self.op(b"(")
    }

    fn none(&mut self) -> &mut Pickle {
        self.op(b"N")
    }

    fn pop(&mut self) -> &mut Pickle {
        self.op(b"0")
    }

    fn empty_tuple(&mut self) -> &mut Pickle {
        self.op(b")")
    }

    fn tuple(&mut self) -> &mut Pickle {
        self.op(b"t")
    }

    fn tuple1(&mut self) -> &mut Pickle {
        self.op(&[0x85])
    }

    fn empty_list(&mut self) -> &mut Pickle {
        self.op(b"]")
    }

    fn list(&mut self) -> &mut Pickle {
        self.op(b"l")
    }

    fn append(&mut self) -> &mut Pickle {
        self.op(b"a")
    }

    fn appends(&mut self) -> &mut Pickle {
        self.op(b"e")
    }

    fn reduce(&mut self) -> &mut Pickle {
        self.op(b"R")
    }

    fn binpersid(&mut self) -> &mut Pickle {
        self.op(b"Q")
    }

    fn stop(&mut self) -> &mut Pickle {
        self.op(b".")
    }

    /// `LONG_BINPUT index`.
    fn put(&mut self, index: u32) -> &mut Pickle {
        self.op(b"r").op(&index.to_le_bytes())
    }

    /// `LONG_BINGET index`.
    fn get(&mut self, index: u32) -> &mut Pickle {
        self.op(b"j").op(&index.to_le_bytes())
    }

    /// `BINUNICODE text`.
    fn text(&mut self, text: &str) -> &mut Pickle {
        let len = u32::try_from(text.len()).unwrap();
        self.op(b"X").op(&len.to_le_bytes()).op(text.as_bytes())
    }

    /// `BININT` when it fits in 31 bits, `LONG1` otherwise.
    fn int(&mut self, value: i64) -> &mut Pickle {
        match i32::try_from(value) {
            Ok(small) => self.op(b"J").op(&small.to_le_bytes()),
            Err(_) => self.op(&[0x8a, 8]).op(&value.to_le_bytes()),
        }
    }

    /// `GLOBAL module name`.
    fn global(&mut self, module: &str, name: &str) -> &mut Pickle {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }

    /// `(v0, v1, …)` of integers.
    fn ints(&mut self, values: &[i64]) -> &mut Pickle {
        self.mark();
        for &v in values {
            self.int(v);
        }
        self.tuple()
    }

    /// `_rebuild_tensor_v2(storage('0', FloatStorage, numel), offset, shape, stride, False,
    /// OrderedDict())`, as `torch.save` writes a tensor.
    fn tensor(&mut self, numel: i64, offset: i64, shape: &[i64], stride: &[i64]) -> &mut Pickle {
        self.tensor_of("FloatStorage", numel, offset, shape, stride)
    }

    /// [`Pickle::tensor`] of storage `0` as `class` (`torch.HalfStorage`, …).
    fn tensor_of(
        &mut self,
        class: &str,
        numel: i64,
        offset: i64,
        shape: &[i64],
        stride: &[i64],
    ) -> &mut Pickle {
        self.global("torch._utils", "_rebuild_tensor_v2").mark();
        self.mark()
            .text("storage")
            .global("torch", class)
            .text("0")
            .text("cpu");
        self.int(numel).tuple().binpersid();
        self.int(offset).ints(shape).ints(stride).op(&[0x89]);
        self.global("collections", "OrderedDict").empty_tuple().reduce();
        self.tuple().reduce()
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.clone()
    }
}

/// Persistent ids are refused: for pickles that should never reach one.
struct NoPersistent;

impl PersistentLoad for NoPersistent {
    fn load(&mut self, _: &Value) -> Result<Value, PersistentIdError> {
        Err(PersistentIdError::Unexpected("no persistent ids here".into()))
    }
}

/// A stored zip archive of `(name, bytes)` entries, as `torch.save` writes them.
fn archive(entries: &[(&str, &[u8])], method: CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(*name, SimpleFileOptions::default().compression_method(method))
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A checkpoint whose data.pkl is `pickle` and whose storage `0` holds `floats` floats.
fn checkpoint(pickle: &Pickle, floats: usize) -> Vec<u8> {
    let storage: Vec<u8> = (0..floats).flat_map(|i| (i as f32).to_le_bytes()).collect();
    archive(
        &[
            ("archive/data.pkl", &pickle.bytes()),
            ("archive/data/0", &storage),
        ],
        CompressionMethod::Stored,
    )
}

fn assert_fast(started: Instant, what: &str) {
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "{what} took {took:?}");
}

// Class 2: deep pickles.

#[test]
fn two_million_nested_tuples_parse_walk_and_drop_without_overflow() {
    let started = Instant::now();
    let mut pickle = Pickle::new();
    pickle.empty_tuple();
    for _ in 0..2_000_000 {
        pickle.tuple1();
    }
    pickle.stop();
    let file = PthFile::from_bytes(checkpoint(&pickle, 0)).unwrap();
    let (found, unsupported) = file.tensors();
    assert!(found.is_empty());
    assert_eq!(unsupported.len(), 1, "{unsupported:?}");
    assert!(
        unsupported[0].ends_with(&format!(
            "nested deeper than {MAX_DEPTH} levels; not searched for tensors"
        )),
        "{unsupported:?}"
    );
    assert_eq!(format!("{:?}", file.root), "((((((…))))))");
    drop(file);
    assert_fast(started, "two million nested tuples");
}

#[test]
fn lists_deepened_after_nesting_drop_without_overflow() {
    // l0 = []; l = l0; 1,000,000 times: n = []; l.append(n); l = n. A depth recorded when each
    // list was built would say 1: only an iterative drop survives this.
    let mut pickle = Pickle::new();
    pickle.empty_list().put(0).put(1).pop();
    for _ in 0..1_000_000 {
        pickle.get(1).empty_list().put(1).append().pop();
    }
    pickle.get(0).stop();
    let started = Instant::now();
    let (value, _) = parse(&pickle.bytes(), &mut NoPersistent).unwrap();
    drop(value);
    assert_fast(started, "a list chain a million deep");
}

#[test]
fn a_self_referencing_persistent_id_gives_a_short_error() {
    // pid = [pid] (a list appended to itself), then BINPERSID: the cycle is never closed, the
    // error shows the list with a description where the cycle would have been.
    let mut pickle = Pickle::new();
    pickle.empty_list().put(0).get(0).append().binpersid().stop();
    let err = PthFile::from_bytes(checkpoint(&pickle, 0)).unwrap_err();
    let PthError::Pickle { error, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(&error.kind, PickleErrorKind::PersistentId(PersistentIdError::Unexpected(v)) if v == "[a list holding the list it is stored in (a reference cycle, not followed)]"),
        "{err}"
    );
}

#[test]
fn errors_show_a_short_prefix_of_huge_values() {
    // A persistent id of 100,000 copies of a 64 KiB string.
    let mut pickle = Pickle::new();
    pickle.text(&"x".repeat(MAX_KEPT_BYTES)).put(0).pop().mark();
    for _ in 0..100_000 {
        pickle.get(0);
    }
    pickle.list().binpersid().stop();
    let started = Instant::now();
    let err = PthFile::from_bytes(checkpoint(&pickle, 0)).unwrap_err();
    let message = err.to_string();
    assert!(message.len() < PREVIEW_CHARS * 2, "{} bytes", message.len());
    assert!(message.contains("unexpected persistent id [\"xxxx"), "{message}");
    assert_fast(started, "a huge persistent id");
}

// Class 3: exponential sharing.

#[test]
fn sixty_four_levels_of_shared_lists_are_walked_once() {
    // x = tensor; 64 times: x = [x, x]. 2^64 paths, each list walked once.
    let mut pickle = Pickle::new();
    pickle.tensor(4, 0, &[2, 2], &[2, 1]).put(0).pop();
    for _ in 0..64 {
        pickle.empty_list().mark().get(0).get(0).appends().put(0).pop();
    }
    pickle.get(0).stop();
    assert!(pickle.0.len() < 1400, "{} bytes", pickle.0.len());
    let started = Instant::now();
    let file = PthFile::from_bytes(checkpoint(&pickle, 4)).unwrap();
    let (found, unsupported) = file.tensors();
    // The innermost list holds the tensor twice: a leaf is named under every path that reaches
    // it directly, like tied weights.
    let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
    let innermost = ["0"; 63].join(".");
    assert_eq!(names, [format!("{innermost}.0"), format!("{innermost}.1")]);
    assert!(unsupported.is_empty(), "{unsupported:?}");
    assert_eq!(file.read_f32(&found[0].tensor).unwrap(), [0., 1., 2., 3.]);
    assert_fast(started, "64 levels of x = [x, x]");
}

#[test]
fn the_walk_reports_what_it_leaves_out() {
    // A list of MAX_FOUND + 1 references to one tensor, and a dict key of 2,000 bytes.
    let mut pickle = Pickle::new();
    pickle.mark().tensor(4, 0, &[4], &[1]).put(0);
    for _ in 0..MAX_FOUND {
        pickle.get(0);
    }
    pickle
        .list()
        .put(1)
        .pop()
        .op(b"}")
        .text(&"k".repeat(2000))
        .get(0)
        .op(b"s");
    pickle.text("many").get(1).op(b"s").stop();
    let file = PthFile::from_bytes(checkpoint(&pickle, 4)).unwrap();
    let walk = file.walk_tensors();
    assert_eq!(walk.found.len(), MAX_FOUND - 1);
    assert_eq!(walk.left_out.len(), 2, "{:?}", walk.left_out);
    assert!(
        walk.left_out[0].starts_with(&format!("{}…: a name longer than 1024 bytes", "k".repeat(200))),
        "{:?}",
        walk.left_out
    );
    assert_eq!(
        walk.left_out[1],
        format!("more than {MAX_FOUND} tensors: the rest of the checkpoint was not searched")
    );
}

#[test]
fn shared_strings_are_not_copied() {
    // A 64 KiB string fetched 1,000,000 times from the memo: 64 GB if copied.
    let mut pickle = Pickle::new();
    pickle.text(&"s".repeat(MAX_KEPT_BYTES)).put(0).pop().mark();
    for _ in 0..1_000_000 {
        pickle.get(0);
    }
    pickle.list().stop();
    let started = Instant::now();
    let (value, _) = parse(&pickle.bytes(), &mut NoPersistent).unwrap();
    let Value::List(items) = &value else {
        panic!("{value:?}")
    };
    let items = items.borrow();
    assert_eq!(items.len(), 1_000_000);
    let (Value::Str(first), Value::Str(last)) = (&items[0], &items[999_999]) else {
        panic!()
    };
    assert!(Rc::ptr_eq(first, last));
    assert_fast(started, "a shared string");
}

#[test]
fn total_work_is_capped() {
    let pairs = MAX_WORK as usize / 2 + 1;
    let mut pickle = Pickle::new();
    pickle.0.reserve(pairs * 2);
    for _ in 0..pairs {
        pickle.none().pop();
    }
    pickle.none().stop();
    let err = parse(&pickle.bytes(), &mut NoPersistent).unwrap_err();
    assert!(
        matches!(err.kind, PickleErrorKind::WorkLimit { limit } if limit == MAX_WORK),
        "{err}"
    );
    assert_eq!(err.offset, 1 + MAX_WORK as usize);
    assert!(err.to_string().contains("units of work"), "{err}");
}

#[test]
fn protocol_0_lines_past_the_text_budget_are_refused() {
    // 65 one-MiB lines (they carry names, so they are never dropped): 64 MiB are copied at most.
    let line = "t".repeat(1 << 20);
    let mut lines = Pickle::new();
    lines.mark();
    for _ in 0..=MAX_TEXT >> 20 {
        lines.op(b"V").op(line.as_bytes()).op(b"\n");
    }
    lines.list().stop();
    // And one line longer than the budget with no newline: not searched to its end.
    let mut endless = Pickle::new();
    endless.op(b"V").op(&vec![b'u'; MAX_TEXT + 2]);
    for pickle in [lines, endless] {
        let err = parse(&pickle.bytes(), &mut NoPersistent).unwrap_err();
        assert!(
            matches!(err.kind, PickleErrorKind::TextLimit { limit } if limit == MAX_TEXT),
            "{err}"
        );
        assert!(err.to_string().contains("bytes of text"), "{err}");
    }
}

/// `BINBYTES8` (protocol 4) of `len` bytes of 7.
fn binbytes8(pickle: &mut Pickle, len: usize) {
    pickle
        .op(&[0x8e])
        .op(&(len as u64).to_le_bytes())
        .op(&vec![7u8; len]);
}

#[test]
fn long_strings_and_bytes_are_kept_as_their_length() {
    // One string and one `bytes` of MAX_KEPT_BYTES (kept), then a string over the whole text
    // budget and a hundred long `bytes` (at protocol 2 a NumPy array's data is a latin-1
    // string): described, never copied, whatever their total.
    let mut pickle = Pickle::new();
    pickle.mark().text(&"k".repeat(MAX_KEPT_BYTES));
    binbytes8(&mut pickle, MAX_KEPT_BYTES);
    pickle.text(&"s".repeat(MAX_TEXT + 1));
    for _ in 0..100 {
        binbytes8(&mut pickle, (MAX_TEXT >> 6) + 1);
    }
    pickle.list().stop();
    let (value, _) = parse(&pickle.bytes(), &mut NoPersistent).unwrap();
    let Value::List(items) = &value else {
        panic!("{value:?}")
    };
    let items = items.borrow();
    assert_eq!(items[0].as_str().map(str::len), Some(MAX_KEPT_BYTES));
    assert!(matches!(&items[1], Value::Bytes(b) if b.len() == MAX_KEPT_BYTES && b[0] == 7));
    let described = |v: &Value, text: &str| matches!(v, Value::Opaque(s) if s.as_str() == text);
    assert!(described(
        &items[2],
        &format!("a {}-byte string (not kept)", MAX_TEXT + 1)
    ));
    let long = format!("a {}-byte bytes (not kept)", (MAX_TEXT >> 6) + 1);
    assert!(items[3..].iter().all(|v| described(v, &long)), "{:?}", items[3]);
}

#[test]
fn short_strings_past_the_text_budget_are_described() {
    // 1,025 strings of 64 KiB: the first 1,024 fill the budget and are kept, the last is not.
    let chunk = "c".repeat(MAX_KEPT_BYTES);
    let count = MAX_TEXT / MAX_KEPT_BYTES + 1;
    let mut pickle = Pickle::new();
    pickle.mark();
    for _ in 0..count {
        pickle.text(&chunk);
    }
    pickle.list().stop();
    let (value, _) = parse(&pickle.bytes(), &mut NoPersistent).unwrap();
    let Value::List(items) = &value else {
        panic!("{value:?}")
    };
    let items = items.borrow();
    assert!(
        items[..count - 1]
            .iter()
            .all(|v| v.as_str() == Some(chunk.as_str()))
    );
    let last = &items[count - 1];
    assert!(
        matches!(last, Value::Opaque(s) if s.contains("(not kept)")),
        "{last:?}"
    );
}

#[test]
fn repeated_calls_on_a_big_list_are_charged() {
    // OrderedDict(l) twenty times over one list of a million items: each call copies it.
    let mut pickle = Pickle::new();
    pickle.mark();
    for _ in 0..1_000_000 {
        pickle.none();
    }
    pickle.list().put(0).pop();
    for _ in 0..20 {
        pickle
            .global("collections", "OrderedDict")
            .get(0)
            .tuple1()
            .reduce()
            .pop();
    }
    pickle.none().stop();
    let err = parse(&pickle.bytes(), &mut NoPersistent).unwrap_err();
    assert!(matches!(err.kind, PickleErrorKind::WorkLimit { .. }), "{err}");
}

#[test]
fn memo_and_containers_are_capped() {
    let mut pickle = Pickle::new();
    pickle.none();
    for index in 0..=MAX_MEMO as u32 {
        pickle.put(index);
    }
    let err = parse(&pickle.stop().bytes(), &mut NoPersistent).unwrap_err();
    assert!(
        matches!(err.kind, PickleErrorKind::MemoLimit { limit } if limit == MAX_MEMO),
        "{err}"
    );
    assert_eq!(err.offset, 3 + 5 * MAX_MEMO);

    let mut pickle = Pickle::new();
    pickle.empty_list().mark();
    for _ in 0..=MAX_CONTAINER {
        pickle.none();
    }
    let err = parse(&pickle.appends().stop().bytes(), &mut NoPersistent).unwrap_err();
    assert!(
        matches!(err.kind, PickleErrorKind::ContainerLimit { kind: "list", len, limit }
            if len == MAX_CONTAINER + 1 && limit == MAX_CONTAINER),
        "{err}"
    );
}

// Class 4: tensor geometry.

/// The error reading the only tensor of a checkpoint holding `floats` floats.
fn read_error(pickle: &mut Pickle, floats: usize) -> PthError {
    let file = PthFile::from_bytes(checkpoint(pickle.stop(), floats)).unwrap();
    let (found, _) = file.tensors();
    assert_eq!(found.len(), 1);
    file.read_f32(&found[0].tensor).unwrap_err()
}

#[test]
fn a_zero_stride_broadcast_is_refused_before_allocating() {
    let started = Instant::now();
    let err = read_error(Pickle::new().tensor(1, 0, &[50_000, 50_000], &[0, 0]), 1);
    assert!(
        matches!(&err, PthError::TooManyElements { shape, limit } if shape == &[50_000, 50_000] && *limit == MAX_ELEMENTS),
        "{err}"
    );
    assert!(err.to_string().contains("more than 268435456 elements"), "{err}");
    assert_fast(started, "a broadcast");
    // A small broadcast stays readable, as PyTorch's `expand` writes it.
    let file =
        PthFile::from_bytes(checkpoint(Pickle::new().tensor(1, 0, &[2, 3], &[0, 0]).stop(), 1)).unwrap();
    assert_eq!(file.read_f32(&file.tensors().0[0].tensor).unwrap(), [0.0; 6]);
}

#[test]
fn wrapping_strides_and_shapes_are_refused() {
    let err = read_error(Pickle::new().tensor(10, 0, &[5], &[1 << 62]), 10);
    assert!(
        matches!(&err, PthError::Overflow { shape, .. } if shape == &[5]),
        "{err}"
    );
    let err = read_error(Pickle::new().tensor(10, 0, &[1 << 32, 1 << 32], &[1, 1]), 10);
    assert!(matches!(err, PthError::Overflow { .. }), "{err}");
    // A zero dimension does not hide a product that overflows.
    let err = read_error(Pickle::new().tensor(10, 0, &[0, 1 << 62, 8], &[1, 1, 1]), 10);
    assert!(matches!(err, PthError::Overflow { .. }), "{err}");
    let err = read_error(Pickle::new().tensor(10, 3, &[2, 2], &[1, 1 << 40]), 10);
    assert!(matches!(err, PthError::OutOfStorage { numel: 10, .. }), "{err}");
    let err = read_error(Pickle::new().tensor(10, 0, &[2], &[1, 1]), 10);
    assert!(matches!(err, PthError::Strides { dims: 1, strides: 2 }), "{err}");
}

#[test]
fn a_storage_larger_than_its_entry_is_refused() {
    let err = read_error(Pickle::new().tensor(1 << 40, 0, &[4], &[1]), 4);
    assert!(
        matches!(err, PthError::StorageTooSmall { available: 4, .. }),
        "{err}"
    );
    // Compressed, the claim is checked before inflating.
    let pickle = Pickle::new().tensor(1 << 29, 0, &[4], &[1]).stop().bytes();
    let data = archive(
        &[("archive/data.pkl", &pickle), ("archive/data/0", &[0u8; 16])],
        CompressionMethod::Deflated,
    );
    let file = PthFile::from_bytes(data).unwrap();
    let err = file.read_f32(&file.tensors().0[0].tensor).unwrap_err();
    assert!(
        matches!(&err, PthError::EntryTooLarge { name, .. } if name == "data/0"),
        "{err}"
    );
}

#[test]
fn too_many_dimensions_are_refused_by_the_pickle_reader() {
    let mut pickle = Pickle::new();
    pickle.tensor(1, 0, &[1; 17], &[1; 17]).stop();
    let err = PthFile::from_bytes(checkpoint(&pickle, 1)).unwrap_err();
    let PthError::Pickle { error, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        matches!(
            error.kind,
            PickleErrorKind::TensorRank {
                what: "size",
                rank: 17,
                limit: 16
            }
        ),
        "{err}"
    );
}

/// One storage named as floats and again as halves (an audit): torch.save refuses to write
/// that, and torch.load reads the second as the first's type, so the numbers cannot mean what
/// the file says. Refused, naming the storage and both types.
#[test]
fn a_storage_of_two_types_is_refused() {
    let mut pickle = Pickle::new();
    pickle.mark();
    pickle.tensor(4, 0, &[4], &[1]);
    pickle.tensor_of("HalfStorage", 8, 0, &[8], &[1]);
    pickle.list().stop();
    let err = PthFile::from_bytes(checkpoint(&pickle, 4)).unwrap_err();
    assert!(
        err.to_string()
            .contains("storage \"0\" is named as F32 and again as F16"),
        "{err}"
    );
}

// Class 10 (part): ambiguous archives.

#[test]
fn two_checkpoints_in_one_archive_are_refused_naming_both() {
    let mut one = Pickle::new();
    one.tensor(4, 0, &[4], &[1]).stop();
    let storage = [0u8; 16];
    for (first, second) in [("a/data.pkl", "b/data.pkl"), ("b/data.pkl", "a/data.pkl")] {
        let data = archive(
            &[
                (first, &one.bytes()),
                ("a/data/0", &storage),
                (second, &one.bytes()),
                ("b/data/0", &storage),
            ],
            CompressionMethod::Stored,
        );
        let err = PthFile::from_bytes(data).unwrap_err();
        assert!(
            matches!(&err, PthError::AmbiguousArchive { first: f, second: s } if f == first && s == second),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("both `{first}` and `{second}`")),
            "{err}"
        );
    }
    // Entries outside the checkpoint's folder (a Finder's `__MACOSX/`) are not mixed in.
    let data = archive(
        &[
            ("__MACOSX/data/0", &[1u8; 16]),
            ("a/data.pkl", &one.bytes()),
            ("a/data/0", &storage),
        ],
        CompressionMethod::Stored,
    );
    let file = PthFile::from_bytes(data).unwrap();
    assert_eq!(file.read_f32(&file.tensors().0[0].tensor).unwrap(), [0.0; 4]);
}

#[test]
fn a_byte_order_or_pickle_past_what_it_can_hold_is_refused_unread() {
    // Inflated within a storage's cap (1 GiB), a deflated `byteorder` or `data.pkl` of 1 MB
    // took 1.1 GB; and any byte order but "little" was called big-endian (hostile round 22).
    let mut pickle = Pickle::new();
    pickle.empty_tuple().stop();
    let pickled = pickle.bytes();
    let with = |entries: &[(&str, &[u8])]| {
        let mut all = vec![("archive/data.pkl", &pickled[..])];
        all.extend_from_slice(entries);
        PthFile::from_bytes(archive(&all, CompressionMethod::Deflated))
    };
    assert!(with(&[("archive/byteorder", b"little")]).is_ok());
    let big = with(&[("archive/byteorder", b"big")]).unwrap_err().to_string();
    assert!(big.contains("big-endian"), "{big}");
    let odd = with(&[("archive/byteorder", b"LITTLE")]).unwrap_err().to_string();
    assert!(
        odd.contains("byte order is \"LITTLE\", neither \"little\" nor \"big\""),
        "{odd}"
    );
    // Inflated no further than 16 bytes, and named by them.
    let zeros = [&b"big"[..], &vec![0u8; 1 << 20]].concat();
    let huge = with(&[("archive/byteorder", &zeros)]).unwrap_err().to_string();
    assert!(huge.contains("byte order is \"big\\0\\0\\0"), "{huge}");
    let long_pickle = [pickled.clone(), vec![0; 64 << 20]].concat();
    let huge = PthFile::from_bytes(archive(
        &[("archive/data.pkl", &long_pickle)],
        CompressionMethod::Deflated,
    ));
    let huge = huge.unwrap_err().to_string();
    assert!(
        huge.contains("zip entry `data.pkl` would inflate to more than 67108864 bytes"),
        "{huge}"
    );
    // Stored, a long pickle is in the file already: read (a pickled array may be large).
    let stored = archive(&[("archive/data.pkl", &long_pickle)], CompressionMethod::Stored);
    assert!(PthFile::from_bytes(stored).is_ok());
}
