//! The values a pickle builds: plain Python data, inert objects, and the storages and tensors
//! `torch.save` describes.

use std::cell::RefCell;
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

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StorageDtype::F64 | StorageDtype::I64 => 8,
            StorageDtype::F32 | StorageDtype::I32 => 4,
            StorageDtype::F16 | StorageDtype::BF16 | StorageDtype::I16 => 2,
            StorageDtype::I8 | StorageDtype::U8 | StorageDtype::Bool => 1,
        }
    }

    /// PyTorch's name for it (`torch.int64`), as users know it.
    pub fn torch_name(self) -> &'static str {
        match self {
            StorageDtype::F64 => "torch.float64",
            StorageDtype::F32 => "torch.float32",
            StorageDtype::F16 => "torch.float16",
            StorageDtype::BF16 => "torch.bfloat16",
            StorageDtype::I64 => "torch.int64",
            StorageDtype::I32 => "torch.int32",
            StorageDtype::I16 => "torch.int16",
            StorageDtype::I8 => "torch.int8",
            StorageDtype::U8 => "torch.uint8",
            StorageDtype::Bool => "torch.bool",
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
    pub key: Rc<str>,
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
/// and any items or elements added to it. Its `Debug` is a bounded preview (`preview.rs`).
/// A Python callable or class, `module.name`: shared by every object of the class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassName {
    pub module: Rc<str>,
    pub name: Rc<str>,
}

impl Object {
    /// An object of `class` with nothing in it yet.
    pub fn new(class: Rc<ClassName>) -> Object {
        Object {
            class,
            args: Vec::new(),
            state: None,
            items: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct Object {
    pub class: Rc<ClassName>,
    pub args: Vec<Value>,
    pub state: Option<Value>,
    pub items: Vec<(Value, Value)>,
}

/// A pickled value. Text, bytes and containers are reference-counted, so `DUP`, `GET` and the
/// memo share a value instead of copying it; dropping is iterative (`drop.rs`) and `Debug` is a
/// bounded preview (`preview.rs`), so neither recurses through a deep or cyclic value.
#[derive(Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    List(Shared<Vec<Value>>),
    Tuple(Rc<Vec<Value>>),
    /// Dicts and `OrderedDict`s, in insertion order.
    Dict(Shared<Vec<(Value, Value)>>),
    /// A reference to a Python callable or class (`module.name`), never resolved.
    Global(Rc<ClassName>),
    Object(Shared<Object>),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
    /// A value the reader keeps only as a description (huge integers, exotic tensors).
    Opaque(Rc<String>),
}

impl Value {
    pub fn str(text: impl Into<Rc<str>>) -> Value {
        Value::Str(text.into())
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(RefCell::new(items)))
    }

    pub fn tuple(items: Vec<Value>) -> Value {
        Value::Tuple(Rc::new(items))
    }

    pub fn dict(items: Vec<(Value, Value)>) -> Value {
        Value::Dict(Rc::new(RefCell::new(items)))
    }

    pub fn object(object: Object) -> Value {
        Value::Object(Rc::new(RefCell::new(object)))
    }

    pub fn opaque(description: String) -> Value {
        Value::Opaque(Rc::new(description))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// A non-negative integer as a count or an index.
    pub fn as_count(&self) -> Option<usize> {
        self.as_int().and_then(|v| usize::try_from(v).ok())
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

    /// The Python-ish kind, for error messages.
    pub fn kind(&self) -> &'static str {
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
