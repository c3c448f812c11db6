//! The per-format stores: how a file becomes branches plus metadata and
//! back. YAML/JSON keep the metadata as a top-level `sops` key, dotenv
//! flattens it into `sops_…` keys, INI into a `[sops]` section, and the
//! binary store wraps the whole file as `data` in a JSON envelope.

pub mod dotenv;
pub mod ini;
pub mod json;
pub mod yaml;

use std::path::Path;

use crate::metadata::Metadata;
use crate::tree::{Item, Value};
use crate::Error;

/// A file format sops knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// By extension, as sops chooses: unknown extensions are binary.
    pub fn from_path(p: &Path) -> Format {
        match p.extension().and_then(|e| e.to_str()) {
            Some("yaml") | Some("yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            _ => Format::Binary,
        }
    }

    /// From a name as in `--input-type` or sops-nix's `format`.
    pub fn from_name(s: &str) -> Result<Format, Error> {
        Ok(match s {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" | "env" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => {
                return Err(Error::Format(format!(
                    "unknown format '{s}' (expected yaml, json, dotenv, ini or binary)"
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }
}

fn text(bytes: &[u8], f: Format) -> Result<&str, Error> {
    std::str::from_utf8(bytes)
        .map_err(|_| Error::Format(format!("{} input is not UTF-8", f.name())))
}

/// Parse a plaintext file into branches (one per YAML document).
pub fn load_plain(f: Format, bytes: &[u8]) -> Result<Vec<Value>, Error> {
    let branches = match f {
        Format::Yaml => yaml::load(text(bytes, f)?)?,
        Format::Json => vec![json::load(bytes)?],
        Format::Dotenv => vec![dotenv::load(text(bytes, f)?)?],
        Format::Ini => vec![ini::load(text(bytes, f)?)?],
        Format::Binary => vec![Value::Map(vec![Item::Pair(
            "data".into(),
            match String::from_utf8(bytes.to_vec()) {
                Ok(s) => Value::Str(s),
                Err(e) => Value::Bytes(e.into_bytes()),
            },
        )])],
    };
    for b in &branches {
        let has_sops = match f {
            Format::Dotenv => {
                matches!(b, Value::Map(m) if m.iter().any(|i| matches!(i, Item::Pair(k, _) if k.starts_with("sops_"))))
            }
            Format::Binary => false,
            _ => b.get("sops").is_some(),
        };
        if has_sops {
            return Err(Error::AlreadyEncrypted);
        }
    }
    Ok(branches)
}

/// Parse an encrypted file into branches and its metadata.
pub fn load_encrypted(f: Format, bytes: &[u8]) -> Result<(Vec<Value>, Metadata), Error> {
    let (mut branches, meta) = match f {
        Format::Yaml | Format::Json | Format::Binary => {
            let mut branches = if f == Format::Yaml {
                yaml::load(text(bytes, f)?)?
            } else {
                vec![json::load(bytes)?]
            };
            let meta = branches
                .first()
                .and_then(|b| b.get("sops"))
                .cloned()
                .ok_or(Error::NotEncrypted)?;
            for b in &mut branches {
                if let Value::Map(m) = b {
                    m.retain(|i| !matches!(i, Item::Pair(k, _) if k == "sops"));
                }
            }
            (branches, meta)
        }
        Format::Dotenv => {
            let Value::Map(items) = dotenv::load(text(bytes, f)?)? else {
                unreachable!()
            };
            let (meta, rest): (Vec<Item>, Vec<Item>) = items
                .into_iter()
                .partition(|i| matches!(i, Item::Pair(k, _) if k.starts_with("sops_")));
            if meta.is_empty() {
                return Err(Error::NotEncrypted);
            }
            let flat = meta
                .into_iter()
                .filter_map(|i| match i {
                    Item::Pair(k, Value::Str(v)) => Some((k["sops_".len()..].to_string(), v)),
                    _ => None,
                })
                .collect::<Vec<_>>();
            (vec![Value::Map(rest)], unflatten(&flat)?)
        }
        Format::Ini => {
            let Value::Map(mut sections) = ini::load(text(bytes, f)?)? else {
                unreachable!()
            };
            let pos = sections
                .iter()
                .position(|i| matches!(i, Item::Pair(k, _) if k == "sops"))
                .ok_or(Error::NotEncrypted)?;
            let Item::Pair(_, Value::Map(items)) = sections.remove(pos) else {
                return Err(Error::NotEncrypted);
            };
            let flat = items
                .into_iter()
                .filter_map(|i| match i {
                    Item::Pair(k, Value::Str(v)) => Some((k, v.replace("\\n", "\n"))),
                    _ => None,
                })
                .collect::<Vec<_>>();
            (vec![Value::Map(sections)], unflatten(&flat)?)
        }
    };
    let meta = Metadata::from_value(&meta)?;
    if branches.is_empty() {
        branches.push(Value::Map(vec![]));
    }
    Ok((branches, meta))
}

/// Emit branches; with `meta` the encrypted form, without it plaintext
/// (for the binary store, the raw `data` bytes).
pub fn emit(f: Format, branches: &[Value], meta: Option<&Metadata>) -> Result<Vec<u8>, Error> {
    let mut mv = meta.map(|m| m.to_value());
    // sops writes no crypt rule into binary files (there is one key)
    if let (Format::Binary, Some(Value::Map(items))) = (f, &mut mv) {
        items.retain(|i| {
            !matches!(i, Item::Pair(k, Value::Str(v)) if k == "unencrypted_suffix" && v == "_unencrypted")
        });
    }
    let with_meta = |b: &Value| -> Value {
        match (b, &mv) {
            (Value::Map(items), Some(m)) => {
                let mut items = items.clone();
                items.push(Item::Pair("sops".into(), m.clone()));
                Value::Map(items)
            }
            (b, _) => b.clone(),
        }
    };
    let single = || branches.first().cloned().unwrap_or(Value::Map(vec![]));
    match f {
        Format::Yaml => {
            let docs: Vec<Value> = branches.iter().map(with_meta).collect();
            yaml::emit(&docs)
        }
        Format::Json => json::emit(&with_meta(&single())),
        Format::Binary => match meta {
            Some(_) => json::emit(&with_meta(&single())),
            None => match single().get("data") {
                Some(Value::Bytes(b)) => Ok(b.clone()),
                Some(v) => Ok(v.scalar_bytes().unwrap_or_default()),
                None => Err(Error::Format("binary store: no 'data' key".into())),
            },
        },
        Format::Dotenv => {
            let Value::Map(mut items) = single() else {
                return Err(Error::Format("dotenv: not a map".into()));
            };
            if let Some(m) = &mv {
                for (k, v) in flatten(m) {
                    items.push(Item::Pair(format!("sops_{k}"), Value::Str(v)));
                }
            }
            dotenv::emit(&items)
        }
        Format::Ini => {
            let Value::Map(mut sections) = single() else {
                return Err(Error::Format("INI: not a map".into()));
            };
            if let Some(m) = &mv {
                let items = flatten(m)
                    .into_iter()
                    .map(|(k, v)| Item::Pair(k, Value::Str(v.replace('\n', "\\n"))))
                    .collect();
                sections.push(Item::Pair("sops".into(), Value::Map(items)));
            }
            ini::emit(&sections)
        }
    }
}

/// sops' `stores/flatten.go`: nested keys joined with `__map_`, list
/// indices with `__list_N`.
pub fn flatten(v: &Value) -> Vec<(String, String)> {
    fn go(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Map(items) => {
                for it in items {
                    if let Item::Pair(k, v) = it {
                        let p = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}__map_{k}")
                        };
                        go(&p, v, out);
                    }
                }
            }
            Value::List(l) => {
                for (i, v) in l.iter().enumerate() {
                    go(&format!("{prefix}__list_{i}"), v, out);
                }
            }
            v => out.push((
                prefix.to_string(),
                String::from_utf8_lossy(&v.display_text().unwrap_or_default()).into_owned(),
            )),
        }
    }
    let mut out = vec![];
    go("", v, &mut out);
    out
}

enum Seg {
    Key(String),
    Index(usize),
}

fn segments(k: &str) -> Result<Vec<Seg>, Error> {
    let mut out = vec![];
    let mut rest = k;
    let mut first = true;
    loop {
        let next_map = rest.find("__map_");
        let next_list = rest.find("__list_");
        let cut = match (next_map, next_list) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (head, tail) = match cut {
            Some(c) => (&rest[..c], Some(&rest[c..])),
            None => (rest, None),
        };
        if first {
            out.push(Seg::Key(head.to_string()));
            first = false;
        }
        let Some(tail) = tail else { break };
        if let Some(t) = tail.strip_prefix("__map_") {
            let end = [t.find("__map_"), t.find("__list_")]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(t.len());
            out.push(Seg::Key(t[..end].to_string()));
            rest = &t[end..];
        } else if let Some(t) = tail.strip_prefix("__list_") {
            let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let i = t[..end]
                .parse()
                .map_err(|_| Error::Format(format!("bad flattened metadata key {k}")))?;
            out.push(Seg::Index(i));
            rest = &t[end..];
        }
        if rest.is_empty() {
            break;
        }
    }
    Ok(out)
}

fn insert(node: &mut Value, segs: &[Seg], val: String, key: &str) -> Result<(), Error> {
    let bad = || Error::Format(format!("inconsistent flattened metadata key {key}"));
    let Some((first, rest)) = segs.split_first() else {
        *node = Value::Str(val);
        return Ok(());
    };
    match first {
        Seg::Key(k) => {
            if matches!(node, Value::Null) {
                *node = Value::Map(vec![]);
            }
            let Value::Map(items) = node else {
                return Err(bad());
            };
            let pos = items
                .iter()
                .position(|i| matches!(i, Item::Pair(x, _) if x == k));
            let pos = match pos {
                Some(p) => p,
                None => {
                    items.push(Item::Pair(k.clone(), Value::Null));
                    items.len() - 1
                }
            };
            let Item::Pair(_, child) = &mut items[pos] else {
                return Err(bad());
            };
            insert(child, rest, val, key)
        }
        Seg::Index(i) => {
            if matches!(node, Value::Null) {
                *node = Value::List(vec![]);
            }
            let Value::List(l) = node else {
                return Err(bad());
            };
            while l.len() <= *i {
                l.push(Value::Null);
            }
            insert(&mut l[*i], rest, val, key)
        }
    }
}

/// The inverse of [`flatten`].
pub fn unflatten(flat: &[(String, String)]) -> Result<Value, Error> {
    let mut root = Value::Map(vec![]);
    for (k, v) in flat {
        insert(&mut root, &segments(k)?, v.clone(), k)?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_roundtrip() {
        let v = yaml::load("age:\n    - recipient: a\n      enc: \"x\\ny\"\n    - recipient: b\n      enc: z\nmac: m\n")
            .unwrap()
            .remove(0);
        let flat = flatten(&v);
        assert!(flat.contains(&("age__list_1__map_recipient".into(), "b".into())));
        assert_eq!(unflatten(&flat).unwrap(), v);
    }
}
