//! A pickle reader that builds values and never runs anything.
//!
//! `torch.save` writes a pickle whose "calls" name Python callables (`_rebuild_tensor_v2`,
//! `OrderedDict`, model classes). Executing them is how `torch.load` can be exploited; here each
//! call becomes an inert value: tensors and ordered dicts are recognised, every other object is
//! kept as its class name, arguments and state, which is enough to walk a pickled `nn.Module`'s
//! `_parameters`, `_buffers` and `_modules`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A shared, mutable container: pickles fill containers after memoising them.
pub type Shared<T> = Rc<RefCell<T>>;

/// Element type of a storage, from its `torch.*Storage` class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageDtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageDtype {
    pub fn from_class(name: &str) -> Option<StorageDtype> {
        Some(match name {
            "DoubleStorage" => StorageDtype::F64,
            "FloatStorage" => StorageDtype::F32,
            "HalfStorage" => StorageDtype::F16,
            "BFloat16Storage" => StorageDtype::BF16,
            "LongStorage" => StorageDtype::I64,
            "IntStorage" => StorageDtype::I32,
            "ShortStorage" => StorageDtype::I16,
            "CharStorage" => StorageDtype::I8,
            "ByteStorage" => StorageDtype::U8,
            "BoolStorage" => StorageDtype::Bool,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            StorageDtype::F64 | StorageDtype::I64 => 8,
            StorageDtype::F32 | StorageDtype::I32 => 4,
            StorageDtype::F16 | StorageDtype::BF16 | StorageDtype::I16 => 2,
            StorageDtype::I8 | StorageDtype::U8 | StorageDtype::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(
            self,
            StorageDtype::F64 | StorageDtype::F32 | StorageDtype::F16 | StorageDtype::BF16
        )
    }
}

/// A storage named by a persistent id; its bytes live outside the pickle.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// The key its bytes are filed under (the root storage's, for a legacy view).
    pub key: String,
    pub dtype: StorageDtype,
    /// Elements from the start of the root storage where this storage begins (legacy views).
    pub offset: usize,
    /// Elements in this storage.
    pub numel: usize,
}

/// A tensor: a strided view of a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: Rc<StorageRef>,
    /// In elements, from the start of `storage`.
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// An object the reader does not interpret: its class, constructor arguments, pickled state
/// and any items or elements added to it.
#[derive(Debug, Clone, Default)]
pub struct Object {
    pub module: String,
    pub name: String,
    pub args: Vec<Value>,
    pub state: Option<Value>,
    pub items: Vec<(Value, Value)>,
}

#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Shared<Vec<Value>>),
    Tuple(Rc<Vec<Value>>),
    /// Dicts and `OrderedDict`s, in insertion order.
    Dict(Shared<Vec<(Value, Value)>>),
    /// A reference to a Python callable or class (`module.name`), never resolved.
    Global(Rc<(String, String)>),
    Object(Shared<Object>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
    /// A value the reader keeps only as a description (huge integers, exotic tensors).
    Opaque(Rc<String>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// Looks a string key up in a dict.
    pub fn get(&self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(items) => items
                .borrow()
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Object(_) => "object",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
            Value::Opaque(_) => "opaque value",
        }
    }
}

/// How a persistent id (`BINPERSID`) becomes a value: the container decides.
pub trait PersistentLoad {
    fn load(&mut self, pid: &Value) -> Result<Value, String>;
}

/// Parses one pickle from `data`, returning its value and the number of bytes it took.
pub fn parse(data: &[u8], persistent: &mut dyn PersistentLoad) -> Result<(Value, usize), String> {
    let mut machine = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let value = machine.run(persistent)?;
    Ok((value, machine.pos))
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack heights at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| {
                format!(
                    "pickle ends early: {n} bytes wanted at offset {} of {}",
                    self.pos,
                    self.data.len()
                )
            })?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("pickle text field without a newline")?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(text)
    }

    fn utf8(&mut self, n: usize) -> Result<Value, String> {
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec())
            .map(Value::Str)
            .map_err(|e| format!("invalid UTF-8 string in pickle: {e}"))
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle pops an empty stack".to_string())
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "pickle reads an empty stack".to_string())
    }

    /// Everything pushed since the last MARK.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let height = self.marks.pop().ok_or("pickle closes a MARK it never opened")?;
        if height > self.stack.len() {
            return Err("pickle MARK above the stack".into());
        }
        Ok(self.stack.split_off(height))
    }

    fn memo_get(&self, index: u32) -> Result<Value, String> {
        self.memo
            .get(&index)
            .cloned()
            .ok_or_else(|| format!("pickle refers to memo entry {index}, never stored"))
    }

    fn run(&mut self, persistent: &mut dyn PersistentLoad) -> Result<Value, String> {
        loop {
            let opcode = self.u8()?;
            match opcode {
                b'\x80' => {
                    let protocol = self.u8()?;
                    if protocol > 5 {
                        return Err(format!("pickle protocol {protocol} is newer than 5"));
                    }
                }
                b'\x95' => {
                    self.u64()?; // FRAME length: frames are only a buffering hint
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?.clone();
                    self.stack.push(top);
                }
                b'N' => self.stack.push(Value::None),
                b'\x88' => self.stack.push(Value::Bool(true)),
                b'\x89' => self.stack.push(Value::Bool(false)),
                b'I' => {
                    let line = self.line()?;
                    let value = match line.as_str() {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        text => Value::Int(text.parse().map_err(|_| format!("bad INT {text:?} in pickle"))?),
                    };
                    self.stack.push(value);
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
                    self.stack.push(Value::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v as i64));
                }
                b'L' => {
                    let line = self.line()?;
                    let digits = line.trim_end_matches('L');
                    let value = digits
                        .parse::<i64>()
                        .map(Value::Int)
                        .unwrap_or_else(|_| Value::Opaque(Rc::new(format!("integer {digits}"))));
                    self.stack.push(value);
                }
                b'\x8a' | b'\x8b' => {
                    let n = if opcode == b'\x8a' {
                        self.u8()? as usize
                    } else {
                        self.u32()? as usize
                    };
                    let bytes = self.take(n)?.to_vec();
                    self.stack.push(long_from_bytes(&bytes));
                }
                b'F' => {
                    let line = self.line()?;
                    let v = line
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| format!("bad FLOAT {line:?} in pickle"))?;
                    self.stack.push(Value::Float(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.stack.push(Value::Float(v));
                }
                b'S' => {
                    // Protocol 0 string: a Python repr in quotes.
                    let line = self.line()?;
                    let text = line.trim_matches(|c| c == '\'' || c == '"').to_string();
                    self.stack.push(Value::Str(text));
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let bytes = self.take(n)?.to_vec();
                    self.stack
                        .push(Value::Str(String::from_utf8_lossy(&bytes).into_owned()));
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let bytes = self.take(n)?.to_vec();
                    self.stack
                        .push(Value::Str(String::from_utf8_lossy(&bytes).into_owned()));
                }
                b'V' => {
                    let line = self.line()?;
                    self.stack.push(Value::Str(line));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let value = self.utf8(n)?;
                    self.stack.push(value);
                }
                b'\x8c' => {
                    let n = self.u8()? as usize;
                    let value = self.utf8(n)?;
                    self.stack.push(value);
                }
                b'\x8d' => {
                    let n = self.u64()? as usize;
                    let value = self.utf8(n)?;
                    self.stack.push(value);
                }
                b'B' | b'C' | b'\x8e' | b'\x96' => {
                    let n = match opcode {
                        b'B' => self.u32()? as usize,
                        b'C' => self.u8()? as usize,
                        _ => self.u64()? as usize,
                    };
                    let bytes = self.take(n)?.to_vec();
                    self.stack.push(Value::Bytes(bytes));
                }
                b']' => self.stack.push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'a' => {
                    let item = self.pop()?;
                    append(self.top()?, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    append(self.top()?, items)?;
                }
                b')' => self.stack.push(Value::Tuple(Rc::new(Vec::new()))),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                b'\x85' | b'\x86' | b'\x87' => {
                    let n = (opcode - b'\x84') as usize;
                    if self.stack.len() < n {
                        return Err("pickle TUPLE on a short stack".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                b'}' => self.stack.push(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.stack.push(Value::Dict(Rc::new(RefCell::new(pairs))));
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    set_items(self.top()?, vec![(key, value)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    set_items(self.top()?, pairs)?;
                }
                b'\x8f' => self.stack.push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                b'\x90' => {
                    let items = self.pop_mark()?;
                    append(self.top()?, items)?;
                }
                b'\x91' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(Rc::new((module, name))));
                }
                b'\x93' => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => {
                            self.stack.push(Value::Global(Rc::new((module, name))))
                        }
                        _ => return Err("pickle STACK_GLOBAL without two strings".into()),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let value = call(callable, args)?;
                    self.stack.push(value);
                }
                b'\x81' => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let value = call(class, args)?;
                    self.stack.push(value);
                }
                b'\x92' => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let value = call(class, args)?;
                    self.stack.push(value);
                }
                b'b' => {
                    let state = self.pop()?;
                    build(self.top()?, state);
                }
                b'p' => {
                    let line = self.line()?;
                    let index = line.parse().map_err(|_| format!("bad PUT {line:?} in pickle"))?;
                    let top = self.top()?.clone();
                    self.memo.insert(index, top);
                }
                b'q' => {
                    let index = self.u8()? as u32;
                    let top = self.top()?.clone();
                    self.memo.insert(index, top);
                }
                b'r' => {
                    let index = self.u32()?;
                    let top = self.top()?.clone();
                    self.memo.insert(index, top);
                }
                b'\x94' => {
                    let index = self.memo.len() as u32;
                    let top = self.top()?.clone();
                    self.memo.insert(index, top);
                }
                b'g' => {
                    let line = self.line()?;
                    let index = line.parse().map_err(|_| format!("bad GET {line:?} in pickle"))?;
                    let value = self.memo_get(index)?;
                    self.stack.push(value);
                }
                b'h' => {
                    let index = self.u8()? as u32;
                    let value = self.memo_get(index)?;
                    self.stack.push(value);
                }
                b'j' => {
                    let index = self.u32()?;
                    let value = self.memo_get(index)?;
                    self.stack.push(value);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let value = persistent.load(&pid)?;
                    self.stack.push(value);
                }
                b'P' => {
                    let pid = Value::Str(self.line()?);
                    let value = persistent.load(&pid)?;
                    self.stack.push(value);
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} at offset {}",
                        self.pos - 1
                    ));
                }
            }
        }
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if items.len() % 2 != 0 {
        return Err("pickle dict with an odd number of items".into());
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut iter = items.into_iter();
    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn append(target: &mut Value, items: Vec<Value>) -> Result<(), String> {
    match target {
        Value::List(list) => list.borrow_mut().extend(items),
        // A list subclass: keep the elements as (index, value) items.
        Value::Object(object) => {
            let mut object = object.borrow_mut();
            let start = object.items.len();
            object.items.extend(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (Value::Int((start + i) as i64), v)),
            );
        }
        other => return Err(format!("pickle appends to a {}", other.kind())),
    }
    Ok(())
}

fn set_items(target: &mut Value, items: Vec<(Value, Value)>) -> Result<(), String> {
    match target {
        Value::Dict(dict) => dict.borrow_mut().extend(items),
        Value::Object(object) => object.borrow_mut().items.extend(items),
        other => return Err(format!("pickle sets items on a {}", other.kind())),
    }
    Ok(())
}

/// BUILD: attach the state to the object under construction.
fn build(target: &mut Value, state: Value) {
    if let Value::Object(object) = target {
        let mut object = object.borrow_mut();
        // `(dict_state, slot_state)` tuples carry the attribute dict first.
        let state = match state {
            Value::Tuple(parts) if parts.len() == 2 && matches!(parts[0], Value::Dict(_)) => parts[0].clone(),
            other => other,
        };
        object.state = Some(state);
    }
    // Tensors, dicts and the rest take no state the reader needs.
}

fn long_from_bytes(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Int(0);
    }
    if bytes.len() > 8 {
        // Only the legacy container's magic number is this long: keep its digits.
        let mut hex = String::new();
        for b in bytes.iter().rev() {
            hex.push_str(&format!("{b:02x}"));
        }
        return Value::Opaque(Rc::new(format!("0x{hex}")));
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
    buf[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(buf))
}

fn tuple_items(args: &Value) -> Vec<Value> {
    match args {
        Value::Tuple(items) => items.to_vec(),
        Value::List(items) => items.borrow().clone(),
        Value::None => Vec::new(),
        other => vec![other.clone()],
    }
}

fn usize_list(value: &Value, what: &str) -> Result<Vec<usize>, String> {
    let items = match value {
        Value::Tuple(items) => items.to_vec(),
        Value::List(items) => items.borrow().clone(),
        // torch.Size pickles as a tuple subclass; the reader turns it into its argument.
        other => return Err(format!("tensor {what} is a {}, not a tuple", other.kind())),
    };
    items
        .iter()
        .map(|v| {
            v.as_int()
                .filter(|&i| i >= 0)
                .map(|i| i as usize)
                .ok_or_else(|| format!("tensor {what} holds {v:?}"))
        })
        .collect()
}

/// REDUCE / NEWOBJ: recognise the few callables that matter, keep every other call inert.
fn call(callable: Value, args: Value) -> Result<Value, String> {
    let Value::Global(global) = &callable else {
        return Ok(Value::Opaque(Rc::new(format!("call of a {}", callable.kind()))));
    };
    let (module, name) = (global.0.as_str(), global.1.as_str());
    let args = tuple_items(&args);
    match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let [storage, offset, size, stride, ..] = args.as_slice() else {
                return Err(format!("{name} with {} arguments", args.len()));
            };
            let Value::Storage(storage) = storage else {
                return Err(format!("{name} over a {}, not a storage", storage.kind()));
            };
            let offset = offset
                .as_int()
                .filter(|&o| o >= 0)
                .ok_or("tensor offset is not a count")? as usize;
            Ok(Value::Tensor(Rc::new(TensorRef {
                storage: storage.clone(),
                offset,
                shape: usize_list(size, "size")?,
                stride: usize_list(stride, "stride")?,
            })))
        }
        ("torch._utils", "_rebuild_parameter") | ("torch._utils", "_rebuild_parameter_with_state") => {
            Ok(args.into_iter().next().unwrap_or(Value::None))
        }
        ("torch", "Size") => Ok(args
            .into_iter()
            .next()
            .unwrap_or(Value::Tuple(Rc::new(Vec::new())))),
        ("collections", "OrderedDict") | ("builtins", "dict") | ("__builtin__", "dict") => {
            let mut dict = Vec::new();
            for item in args.first().map(tuple_items).unwrap_or_default() {
                if let Value::Tuple(pair) = item {
                    if let [key, value] = pair.as_slice() {
                        dict.push((key.clone(), value.clone()));
                    }
                }
            }
            Ok(Value::Dict(Rc::new(RefCell::new(dict))))
        }
        ("torch._utils", other) if other.starts_with("_rebuild_") => Ok(Value::Opaque(Rc::new(format!(
            "a tensor rebuilt by torch._utils.{other} (sparse, quantized, nested or meta tensors are not supported)"
        )))),
        ("copyreg", "_reconstructor") => {
            // _reconstructor(cls, base, state): an object of `cls`.
            let class = match args.first() {
                Some(Value::Global(g)) => g.clone(),
                _ => global.clone(),
            };
            Ok(Value::Object(Rc::new(RefCell::new(Object {
                module: class.0.clone(),
                name: class.1.clone(),
                ..Object::default()
            }))))
        }
        _ => Ok(Value::Object(Rc::new(RefCell::new(Object {
            module: module.to_string(),
            name: name.to_string(),
            args,
            ..Object::default()
        })))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoPersistent;
    impl PersistentLoad for NoPersistent {
        fn load(&mut self, _: &Value) -> Result<Value, String> {
            Err("no persistent ids here".into())
        }
    }

    // pickle.dumps({"a": [1, 2.5, "x"], "b": (True, None)}, protocol=2)
    const SIMPLE: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x03eX\x01\x00\x00\x00bq\x04\x88N\x86q\x05u.";

    #[test]
    fn reads_plain_values() {
        let (value, used) = parse(SIMPLE, &mut NoPersistent).unwrap();
        assert_eq!(used, SIMPLE.len());
        let Value::List(list) = value.get("a").unwrap() else {
            panic!()
        };
        let list = list.borrow();
        assert!(matches!(list[0], Value::Int(1)));
        assert!(matches!(list[1], Value::Float(f) if f == 2.5));
        assert_eq!(list[2].as_str(), Some("x"));
        let Value::Tuple(t) = value.get("b").unwrap() else {
            panic!()
        };
        assert!(matches!(t[0], Value::Bool(true)) && matches!(t[1], Value::None));
    }

    #[test]
    fn memoised_containers_are_shared() {
        // l = []; pickle.dumps([l, l]) then APPEND to the memoised list: both refer to one list.
        let data = b"\x80\x02]q\x00(]q\x01h\x01eh\x01K\x07a0.";
        let (value, _) = parse(data, &mut NoPersistent).unwrap();
        let Value::List(outer) = value else { panic!() };
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
        let Value::Object(object) = value else {
            panic!("{value:?}")
        };
        let object = object.borrow();
        assert_eq!(
            (object.module.as_str(), object.name.as_str()),
            ("posix", "system")
        );
        assert_eq!(object.args[0].as_str(), Some("echo hi"));
    }

    #[test]
    fn malformed_pickles_give_errors() {
        assert!(
            parse(b"\x80\x02}q\x00(", &mut NoPersistent)
                .unwrap_err()
                .contains("ends early")
        );
        assert!(
            parse(b"\x80\x02h\x05.", &mut NoPersistent)
                .unwrap_err()
                .contains("memo entry 5")
        );
        assert!(
            parse(b"\x80\x02\xff", &mut NoPersistent)
                .unwrap_err()
                .contains("opcode 0xff")
        );
        assert!(
            parse(b"\x80\x02.", &mut NoPersistent)
                .unwrap_err()
                .contains("empty stack")
        );
        assert!(
            parse(b"\x80\x02e.", &mut NoPersistent)
                .unwrap_err()
                .contains("MARK")
        );
    }

    #[test]
    fn long_integers() {
        assert!(matches!(long_from_bytes(&[0xff]), Value::Int(-1)));
        assert!(matches!(long_from_bytes(&[0x00, 0x01]), Value::Int(256)));
        let magic = long_from_bytes(&[0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
        assert!(matches!(magic, Value::Opaque(s) if s.as_str() == "0x1950a86a20f9469cfc6c"));
    }
}
