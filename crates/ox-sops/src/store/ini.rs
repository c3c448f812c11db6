//! INI load and emit: sections are top-level maps of string values;
//! `;`/`#` lines are comments (the marker and following blanks dropped).

use crate::tree::{Item, Value};
use crate::Error;

pub fn load(text: &str) -> Result<Value, Error> {
    let mut sections: Vec<Item> = vec![];
    let mut cur: Option<(String, Vec<Item>)> = None;
    let mut pending_comments: Vec<Item> = vec![];
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            let c = line[1..].trim_start().to_string();
            match &mut cur {
                Some((_, items)) => items.push(Item::Comment(c)),
                None => pending_comments.push(Item::Comment(c)),
            }
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if let Some((n, items)) = cur.take() {
                sections.push(Item::Pair(n, Value::Map(items)));
            }
            // comments above the first section belong to it
            cur = Some((
                name.trim().to_string(),
                std::mem::take(&mut pending_comments),
            ));
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .ok_or_else(|| Error::Format(format!("INI line {}: expected key = value", i + 1)))?;
        let k = k.trim().to_string();
        let mut v = v.trim().to_string();
        if let Some(start) = v.strip_prefix("\"\"\"") {
            // go-ini multi-line value
            let mut acc = start.to_string();
            while !acc.ends_with("\"\"\"") {
                let (_, next) = lines
                    .next()
                    .ok_or_else(|| Error::Format("INI: unterminated \"\"\" value".into()))?;
                acc.push('\n');
                acc.push_str(next);
            }
            v = acc[..acc.len() - 3].to_string();
        } else if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
            v = v[1..v.len() - 1].to_string();
        }
        if cur.is_none() {
            cur = Some(("DEFAULT".into(), std::mem::take(&mut pending_comments)));
        }
        if let Some((_, items)) = &mut cur {
            items.push(Item::Pair(k, Value::Str(v)));
        }
    }
    if let Some((n, items)) = cur.take() {
        sections.push(Item::Pair(n, Value::Map(items)));
    }
    sections.append(&mut pending_comments);
    Ok(Value::Map(sections))
}

fn value_text(k: &str, v: &Value) -> Result<String, Error> {
    let t = v
        .display_text()
        .ok_or_else(|| Error::Format(format!("INI: value of {k} is not a scalar")))?;
    let s = String::from_utf8_lossy(&t).into_owned();
    Ok(if s.contains('\n') {
        format!("\"\"\"{s}\"\"\"")
    } else if s.trim() != s || s.starts_with('"') {
        format!("\"{s}\"")
    } else {
        s
    })
}

pub fn emit(sections: &[Item]) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    for it in sections {
        match it {
            Item::Comment(c) => out.push_str(&format!("; {c}\n")),
            Item::Pair(name, Value::Map(items)) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                if !(name == "DEFAULT" && out.is_empty()) {
                    out.push_str(&format!("[{name}]\n"));
                }
                let width = items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Pair(k, _) => Some(k.len()),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                for i in items {
                    match i {
                        Item::Comment(c) => out.push_str(&format!("; {c}\n")),
                        Item::Pair(k, v) => {
                            out.push_str(&format!("{k:width$} = {}\n", value_text(k, v)?));
                        }
                    }
                }
            }
            Item::Pair(name, _) => {
                return Err(Error::Format(format!(
                    "INI: top-level key {name} must be a section"
                )))
            }
        }
    }
    Ok(out.into_bytes())
}
