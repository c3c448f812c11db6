//! INI load and emit, following go-ini as sops uses it: sections are
//! top-level maps of string values; keys before any section go to
//! `DEFAULT`; an unquoted `;` or `#` starts an inline comment. Tree
//! shape as in sops: the comment lines above a section header (plus its
//! inline comment) are one comment item at the start of the section; the
//! lines above a key (plus its inline comment) are one comment item
//! right *after* that key. On output each goes back above its header or
//! key. The leading markers of a comment are dropped (sops'
//! `stripCommentChar`); later lines keep theirs.

use crate::tree::{Item, Value};
use crate::Error;

/// Join raw comment lines (markers included) into one comment text.
fn comment_text(lines: &[String]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let joined = lines.join("\n");
    let stripped = if joined.starts_with(';') {
        joined.trim_start_matches([';', ' '])
    } else {
        joined.trim_start_matches(['#', ' '])
    };
    Some(stripped.to_string())
}

/// Split `value ; comment`; quoted values (`"…"`, `` `…` ``, `"""…"""`
/// handled by the caller) keep their `;`/`#`.
fn split_inline(v: &str) -> (String, Option<String>) {
    let v = v.trim();
    if let Some(rest) = v.strip_prefix('`') {
        if let Some(end) = rest.find('`') {
            return (rest[..end].to_string(), None);
        }
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') && !v[1..v.len() - 1].contains('"') {
        return (v[1..v.len() - 1].to_string(), None);
    }
    match v.find([';', '#']) {
        Some(i) => (v[..i].trim_end().to_string(), Some(v[i..].to_string())),
        None => (v.to_string(), None),
    }
}

pub fn load(text: &str) -> Result<Value, Error> {
    let mut sections: Vec<Item> = vec![];
    let mut cur: Option<(String, Vec<Item>)> = None;
    let mut pending: Vec<String> = vec![];
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            pending.push(line.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let end = rest.find(']').ok_or_else(|| {
                Error::Format(format!("INI line {}: unterminated section header", i + 1))
            })?;
            let name = rest[..end].trim().to_string();
            let after = rest[end + 1..].trim();
            if !after.is_empty() {
                if !after.starts_with([';', '#']) {
                    return Err(Error::Format(format!(
                        "INI line {}: unexpected text after the section header",
                        i + 1
                    )));
                }
                pending.push(after.to_string());
            }
            if let Some((n, items)) = cur.take() {
                sections.push(Item::Pair(n, Value::Map(items)));
            }
            let mut items = vec![];
            if let Some(c) = comment_text(&pending) {
                items.push(Item::Comment(c));
            }
            pending.clear();
            cur = Some((name, items));
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .ok_or_else(|| Error::Format(format!("INI line {}: expected key = value", i + 1)))?;
        let k = k.trim().to_string();
        let v = v.trim();
        let value = if let Some(start) = v.strip_prefix("\"\"\"") {
            // go-ini multi-line value
            let mut acc = start.to_string();
            while !acc.ends_with("\"\"\"") {
                let (_, next) = lines
                    .next()
                    .ok_or_else(|| Error::Format("INI: unterminated \"\"\" value".into()))?;
                acc.push('\n');
                acc.push_str(next);
            }
            acc[..acc.len() - 3].to_string()
        } else {
            let (value, inline) = split_inline(v);
            if let Some(c) = inline {
                pending.push(c);
            }
            value
        };
        let items = &mut cur.get_or_insert_with(|| ("DEFAULT".into(), vec![])).1;
        items.push(Item::Pair(k, Value::Str(value)));
        if let Some(c) = comment_text(&pending) {
            items.push(Item::Comment(c));
        }
        pending.clear();
    }
    // comments after the last key stay with the last section
    if let Some(c) = comment_text(&pending) {
        match &mut cur {
            Some((_, items)) => items.push(Item::Comment(c)),
            None => sections.push(Item::Comment(c)),
        }
    }
    if let Some((n, items)) = cur.take() {
        sections.push(Item::Pair(n, Value::Map(items)));
    }
    Ok(Value::Map(sections))
}

fn value_text(k: &str, v: &Value) -> Result<String, Error> {
    let t = v
        .display_text()
        .ok_or_else(|| Error::Format(format!("INI: value of {k} is not a scalar")))?;
    let s = String::from_utf8_lossy(&t).into_owned();
    // go-ini's quoting when writing
    Ok(if s.contains('\n') || s.contains('`') {
        format!("\"\"\"{s}\"\"\"")
    } else if s.contains([';', '#'])
        || (s.len() >= 2 && s.starts_with('"') && s.ends_with('"'))
        || (s.trim() != s && s.contains('"'))
    {
        format!("`{s}`")
    } else if s.trim() != s {
        format!("\"{s}\"")
    } else {
        s
    })
}

fn comment_lines(c: &str, out: &mut String) {
    for line in c.split('\n') {
        if line.starts_with([';', '#']) {
            out.push_str(line);
        } else {
            out.push_str("; ");
            out.push_str(line);
        }
        out.push('\n');
    }
}

pub fn emit(sections: &[Item]) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    for it in sections {
        match it {
            Item::Comment(c) => comment_lines(c, &mut out),
            Item::Pair(name, Value::Map(items)) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                // a first comment is the section's: above the header;
                // any other belongs to the key before it: above that key
                let (section_comment, rest) = match items.first() {
                    Some(Item::Comment(c)) => (Some(c), &items[1..]),
                    _ => (None, &items[..]),
                };
                if let Some(c) = section_comment {
                    comment_lines(c, &mut out);
                }
                if !(name == "DEFAULT" && out.is_empty() && section_comment.is_none()) {
                    out.push_str(&format!("[{name}]\n"));
                }
                let width = rest
                    .iter()
                    .filter_map(|i| match i {
                        Item::Pair(k, _) => Some(k.len()),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                for (j, i) in rest.iter().enumerate() {
                    let Item::Pair(k, v) = i else { continue };
                    if let Some(Item::Comment(c)) = rest.get(j + 1) {
                        comment_lines(c, &mut out);
                    }
                    out.push_str(&format!("{k:width$} = {}\n", value_text(k, v)?));
                }
                // comments with no key before them (only possible in a
                // tree built by hand) are kept at the end
                let mut prev_pair = false;
                for i in rest {
                    match i {
                        Item::Comment(c) if !prev_pair => comment_lines(c, &mut out),
                        Item::Comment(_) => prev_pair = false,
                        Item::Pair(..) => prev_pair = true,
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
