//! The document tree every store parses into and emits from: ordered
//! maps whose items may be comments, lists, and typed scalars. It
//! mirrors sops' `TreeBranch` so that walks visit values in the same
//! order (the MAC depends on that order).

/// One value of a document.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An ordered map; comments are items of their own.
    Map(Vec<Item>),
    /// A list; a comment inside a list is a [`Value::Comment`] element.
    List(Vec<Value>),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes (the binary store, or a `type:bytes` value).
    Bytes(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A YAML timestamp, kept as its RFC 3339 text.
    Time(String),
    Null,
    /// A comment that sits in a list.
    Comment(String),
}

/// One item of a map.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Pair(String, Value),
    Comment(String),
}

impl Value {
    /// The item `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(items) => items.iter().find_map(|i| match i {
                Item::Pair(k, v) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The string of a `Str` (or valid UTF-8 `Bytes`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The bytes sops hashes into the MAC and encrypts for a scalar
    /// (`ToBytes` in sops): bools are `True`/`False`, floats never use
    /// an exponent. `None` for maps, lists and null.
    pub fn scalar_bytes(&self) -> Option<Vec<u8>> {
        Some(match self {
            Value::Str(s) | Value::Comment(s) | Value::Time(s) => s.as_bytes().to_vec(),
            Value::Bytes(b) => b.clone(),
            Value::Int(i) => i.to_string().into_bytes(),
            Value::Float(f) => format_float(*f).into_bytes(),
            Value::Bool(true) => b"True".to_vec(),
            Value::Bool(false) => b"False".to_vec(),
            Value::Map(_) | Value::List(_) | Value::Null => return None,
        })
    }

    /// The human-facing text of a scalar, as `sops -d --extract` prints
    /// it (bools lower-case, like the YAML/JSON emitters write them).
    pub fn display_text(&self) -> Option<Vec<u8>> {
        match self {
            Value::Bool(b) => Some(b.to_string().into_bytes()),
            v => v.scalar_bytes(),
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip
/// digits, never an exponent. Rust's `Display` has the same contract;
/// only the infinities are spelled differently.
pub fn format_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    format!("{}", f)
}
