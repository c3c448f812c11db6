//! JSON load and emit (key order kept; TAB indent like sops).

use serde::Serialize;
use serde_json::Value as J;

use crate::tree::{Item, Value};
use crate::Error;

pub fn from_json(j: J) -> Value {
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::Str(s),
        J::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        J::Object(o) => Value::Map(
            o.into_iter()
                .map(|(k, v)| Item::Pair(k, from_json(v)))
                .collect(),
        ),
    }
}

pub fn to_json(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                // sops prints 1.0 as 1
                J::from(*f as i64)
            } else {
                serde_json::Number::from_f64(*f)
                    .map(J::Number)
                    .unwrap_or(J::Null)
            }
        }
        Value::Str(s) | Value::Time(s) => J::String(s.clone()),
        Value::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
        Value::Comment(_) => J::Null,
        Value::List(l) => J::Array(
            l.iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .map(to_json)
                .collect(),
        ),
        Value::Map(m) => J::Object(
            m.iter()
                .filter_map(|i| match i {
                    Item::Pair(k, v) => Some((k.clone(), to_json(v))),
                    Item::Comment(_) => None,
                })
                .collect(),
        ),
    }
}

pub fn load(bytes: &[u8]) -> Result<Value, Error> {
    let j: J = serde_json::from_slice(bytes).map_err(|e| Error::Format(format!("JSON: {e}")))?;
    match j {
        J::Object(_) => Ok(from_json(j)),
        _ => Err(Error::Format(
            "JSON: the top level must be an object".into(),
        )),
    }
}

/// Pretty-print with TAB indentation and a trailing newline.
pub fn emit(v: &Value) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    to_json(v)
        .serialize(&mut ser)
        .map_err(|e| Error::Format(format!("JSON: {e}")))?;
    out.push(b'\n');
    // Go's encoder escapes these (they only occur inside strings here)
    let text = String::from_utf8(out).map_err(|e| Error::Format(format!("JSON: {e}")))?;
    let text = text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    Ok(text.into_bytes())
}
