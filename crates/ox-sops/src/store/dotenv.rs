//! dotenv load and emit, as sops reads it: `KEY=VALUE` split at the
//! first `=`, no quoting, `#` lines are comments, `\n` escapes newlines.

use crate::tree::{Item, Value};
use crate::Error;

pub fn load(text: &str) -> Result<Value, Error> {
    let mut items = vec![];
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            items.push(Item::Comment(c.to_string()));
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| Error::Format(format!("dotenv line {}: expected KEY=VALUE", i + 1)))?;
        items.push(Item::Pair(
            k.to_string(),
            Value::Str(v.replace("\\n", "\n")),
        ));
    }
    Ok(Value::Map(items))
}

pub fn emit(items: &[Item]) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    for it in items {
        match it {
            Item::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Item::Pair(k, v) => {
                let text = v.display_text().ok_or_else(|| {
                    Error::Format(format!("dotenv: value of {k} is not a scalar"))
                })?;
                out.push_str(k);
                out.push('=');
                out.push_str(&String::from_utf8_lossy(&text).replace('\n', "\\n"));
                out.push('\n');
            }
        }
    }
    Ok(out.into_bytes())
}
