//! YAML load and emit. Loading uses saphyr-parser's events and
//! resolves plain scalars like go-yaml v3 (YAML 1.2 core schema plus
//! timestamps); whole-line comments become comment items of the map or
//! list they precede. Emission mimics go-yaml as sops configures it
//! (indent 4, sequences indented under their key, literal blocks for
//! multi-line strings); it is not byte-identical, which interop does not
//! need (ciphertexts, AADs and the MAC do not depend on layout).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::cipher::is_encrypted;
use crate::tree::{format_float, Item, Value};
use crate::Error;

struct Loader<'a> {
    events: Vec<(Event<'a>, Span)>,
    pos: usize,
    /// Whole-line comments by 1-based line, not yet attached.
    comments: BTreeMap<usize, String>,
    anchors: HashMap<usize, Value>,
}

fn err(msg: impl Into<String>) -> Error {
    Error::Format(format!("YAML: {}", msg.into()))
}

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), Error> {
        let e = self
            .events
            .get(self.pos)
            .cloned()
            .ok_or_else(|| err("unexpected end of input"))?;
        self.pos += 1;
        Ok(e)
    }

    fn peek(&self) -> Option<&(Event<'a>, Span)> {
        self.events.get(self.pos)
    }

    /// Comments on lines before `line`, in order, removed from the pool.
    fn take_comments(&mut self, line: usize) -> Vec<String> {
        let rest = self.comments.split_off(&line);
        std::mem::replace(&mut self.comments, rest)
            .into_values()
            .collect()
    }

    fn node(&mut self) -> Result<Value, Error> {
        let (ev, span) = self.next()?;
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = resolve(&text, style, tag.as_deref(), span)?;
                if anchor != 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| err(format!("line {}: unknown alias", span.start.line()))),
            Event::SequenceStart(anchor, _) => {
                let mut items = vec![];
                loop {
                    match self.peek() {
                        Some((Event::SequenceEnd, sp)) => {
                            let line = sp.start.line();
                            // comments up to the end of the list stay in it
                            let _ = line;
                            self.pos += 1;
                            break;
                        }
                        Some((_, sp)) => {
                            // whole-line comments above, and an inline
                            // one on the item's own line (sops <= 3.12
                            // moves those above the item too)
                            let line = sp.start.line();
                            for c in self.take_comments(line + 1) {
                                items.push(Value::Comment(c));
                            }
                            items.push(self.node()?);
                        }
                        None => return Err(err("unterminated sequence")),
                    }
                }
                let v = Value::List(items);
                if anchor != 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                let mut items: Vec<Item> = vec![];
                loop {
                    match self.peek() {
                        Some((Event::MappingEnd, _)) => {
                            self.pos += 1;
                            break;
                        }
                        Some((_, sp)) => {
                            let line = sp.start.line();
                            for c in self.take_comments(line + 1) {
                                items.push(Item::Comment(c));
                            }
                            let (kev, ksp) = self.next()?;
                            let key = match kev {
                                Event::Scalar(t, _, _, _) => t.into_owned(),
                                _ => {
                                    return Err(err(format!(
                                        "line {}: map keys must be strings",
                                        ksp.start.line()
                                    )))
                                }
                            };
                            if items
                                .iter()
                                .any(|i| matches!(i, Item::Pair(k, _) if *k == key))
                            {
                                return Err(err(format!(
                                    "line {}: duplicate key '{key}'",
                                    ksp.start.line()
                                )));
                            }
                            let v = self.node()?;
                            items.push(Item::Pair(key, v));
                        }
                        None => return Err(err("unterminated mapping")),
                    }
                }
                let v = Value::Map(items);
                if anchor != 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            other => Err(err(format!(
                "line {}: unexpected {:?}",
                span.start.line(),
                other
            ))),
        }
    }
}

fn tag_suffix(tag: Option<&Tag>) -> Option<&str> {
    let t = tag?;
    if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" {
        Some(t.suffix.as_str())
    } else {
        None
    }
}

/// go-yaml v3: underscores removed, then Go's `ParseInt(s, 0, 64)`:
/// `0x`, `0o`, `0b` prefixes, and a leading `0` means octal.
fn is_int(s: &str) -> Option<i64> {
    let plain = s.replace('_', "");
    let (neg, body) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, &plain[..]),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = radix_digits(&lower);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// Go's base prefixes on a lower-cased number: `0x`, `0o`, `0b`, and a
/// leading `0` for octal.
fn radix_digits(lower: &str) -> (u32, &str) {
    if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower)
    }
}

/// Whether go-yaml would make this a uint64 (positive, beyond i64).
fn is_big_uint(s: &str) -> bool {
    let plain = s.replace('_', "");
    let body = plain.strip_prefix('+').unwrap_or(&plain);
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = radix_digits(&lower);
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok_and(|v| v > i64::MAX as u64)
}

fn is_float(s: &str) -> Option<f64> {
    let plain = s.replace('_', "");
    let s = plain.as_str();
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let b = s.trim_start_matches(['-', '+']);
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut seen_e = false;
    let mut prev = ' ';
    for c in b.chars() {
        match c {
            '0'..='9' => seen_digit = true,
            '.' if !seen_dot && !seen_e => seen_dot = true,
            'e' | 'E' if seen_digit && !seen_e => seen_e = true,
            '-' | '+' if prev == 'e' || prev == 'E' => {}
            _ => return None,
        }
        prev = c;
    }
    if !seen_digit {
        return None;
    }
    s.parse().ok()
}

/// A YAML timestamp in RFC 3339 form, as Go prints a `time.Time`.
fn is_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let date_ok = |d: &str| {
        let p: Vec<&str> = d.split('-').collect();
        p.len() == 3
            && p[0].len() == 4
            && (1..=2).contains(&p[1].len())
            && (1..=2).contains(&p[2].len())
            && p.iter().all(|x| x.bytes().all(|c| c.is_ascii_digit()))
    };
    if date_ok(s) {
        let p: Vec<&str> = s.split('-').collect();
        return Some(format!("{}-{:0>2}-{:0>2}T00:00:00Z", p[0], p[1], p[2]));
    }
    let idx = s.find(['T', 't', ' '])?;
    let (d, t) = (&s[..idx], s[idx + 1..].trim_start());
    if !date_ok(d) || d.len() != 10 {
        return None;
    }
    let (time, zone) = match t.find(['Z', 'z', '+', '-']) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, ""),
    };
    let tp: Vec<&str> = time.split(':').collect();
    if tp.len() != 3
        || !tp[..2]
            .iter()
            .all(|x| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let zone = match zone {
        "" | "Z" | "z" | "+00:00" | "-00:00" => "Z".to_string(),
        z => z.to_string(),
    };
    // Go prints fractional seconds without trailing zeros (RFC3339Nano)
    let secs = match tp[2].split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{frac}")
            }
        }
        None => tp[2].to_string(),
    };
    Some(format!("{d}T{:0>2}:{}:{secs}{zone}", tp[0], tp[1]))
}

fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>, span: Span) -> Result<Value, Error> {
    if let Some(suffix) = tag_suffix(tag) {
        let bad = || {
            err(format!(
                "line {}: value does not match !!{suffix}",
                span.start.line()
            ))
        };
        return Ok(match suffix {
            "str" | "binary" => Value::Str(text.to_string()),
            "int" => Value::Int(is_int(text).ok_or_else(bad)?),
            "float" => Value::Float(
                is_float(text)
                    .or_else(|| is_int(text).map(|i| i as f64))
                    .ok_or_else(bad)?,
            ),
            "bool" => Value::Bool(match text {
                "true" | "True" | "TRUE" => true,
                "false" | "False" | "FALSE" => false,
                _ => return Err(bad()),
            }),
            "null" => Value::Null,
            "timestamp" => Value::Time(is_timestamp(text).ok_or_else(bad)?),
            _ => Value::Str(text.to_string()),
        });
    }
    if style != ScalarStyle::Plain || tag.is_some() {
        return Ok(Value::Str(text.to_string()));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            if let Some(i) = is_int(text) {
                Value::Int(i)
            } else if is_big_uint(text) {
                // fits only an unsigned 64-bit integer: go-yaml gives a
                // uint64, which sops refuses too
                return Err(err(format!(
                    "line {}: integer out of range",
                    span.start.line()
                )));
            } else if let Some(f) = is_float(text) {
                Value::Float(f)
            } else if let Some(t) = is_timestamp(text) {
                Value::Time(t)
            } else {
                Value::Str(text.to_string())
            }
        }
    })
}

/// Parse a YAML stream into one map per document.
pub fn load(text: &str) -> Result<Vec<Value>, Error> {
    let mut events = vec![];
    for r in Parser::new_from_str(text) {
        let (ev, span) = r.map_err(|e| err(e.to_string()))?;
        events.push((ev, span));
    }
    // Whole-line comments; lines inside multi-line scalars are content.
    let mut comments = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(c) = t.strip_prefix('#') {
            comments.insert(i + 1, c.to_string());
        }
    }
    let all: Vec<char> = text.chars().collect();
    for (ev, span) in &events {
        if let Event::Scalar(_, style, _, _) = ev {
            let a = span.start.line();
            let last = match style {
                ScalarStyle::Plain => continue,
                // quoted: from the opening quote's line to the closing
                // one (the parser's span may run past trailing comments)
                ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted => {
                    let from = span.start.index().min(all.len());
                    let close = quoted_end(&all[from..], 0, *style == ScalarStyle::DoubleQuoted)
                        .unwrap_or(all.len() - from);
                    a + all[from..from + close]
                        .iter()
                        .filter(|c| **c == '\n')
                        .count()
                }
                // block scalars start at their first content line and
                // run while lines are blank or indented at least as far
                // (the parser's span may run past following comments)
                _ => {
                    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
                    let src: Vec<&str> = text.lines().collect();
                    let Some(first) = src.get(a.wrapping_sub(1)) else {
                        continue;
                    };
                    let want = indent(first);
                    let mut last = a;
                    for (i, l) in src.iter().enumerate().skip(a) {
                        if l.trim().is_empty() {
                            continue;
                        }
                        if indent(l) < want {
                            break;
                        }
                        last = i + 1;
                    }
                    last
                }
            };
            for l in a..=last {
                comments.remove(&l);
            }
        }
    }
    // Inline comments: text after a one-line scalar (and an optional
    // `:` when the scalar is a key) that starts with `#`.
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    for (ev, span) in &events {
        let Event::Scalar(_, style, _, _) = ev else {
            continue;
        };
        let line = span.start.line();
        let Some(chars) = lines.get(line.wrapping_sub(1)) else {
            continue;
        };
        let end = match style {
            ScalarStyle::Plain if span.end.line() == line => span.end.col(),
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                match quoted_end(chars, span.start.col(), *style == ScalarStyle::DoubleQuoted) {
                    Some(e) => e,
                    None => continue,
                }
            }
            _ => continue,
        };
        // `a#b` is a plain scalar, not a comment: `#` needs a blank before it
        let after = chars.get(end..).unwrap_or(&[]);
        let rest: String = after.iter().collect();
        let trimmed = rest.trim_start();
        let (trimmed, colon) = match trimmed.strip_prefix(':') {
            Some(t) => (t.trim_start(), true),
            None => (trimmed, false),
        };
        let blank_before = if colon {
            trimmed.len() < rest.trim_start().len() - 1
        } else {
            trimmed.len() < rest.len()
        };
        if let Some(c) = trimmed.strip_prefix('#') {
            if blank_before {
                comments.entry(line).or_insert_with(|| c.to_string());
            }
        }
    }
    let events: Vec<(Event<'_>, Span)> =
        events.into_iter().map(|(e, s)| (own_event(e), s)).collect();
    let mut l = Loader {
        events,
        pos: 0,
        comments,
        anchors: HashMap::new(),
    };
    let mut docs = vec![];
    loop {
        let (ev, span) = l.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                let v = match l.peek() {
                    Some((Event::DocumentEnd, _)) => Value::Map(vec![]),
                    Some((Event::Scalar(t, ScalarStyle::Plain, _, None), _)) if t.is_empty() => {
                        l.pos += 1;
                        Value::Map(vec![])
                    }
                    _ => l.node()?,
                };
                let mut v = match v {
                    Value::Map(m) => m,
                    Value::Null => vec![],
                    _ => {
                        return Err(err(format!(
                            "line {}: the top level of a document must be a map",
                            span.start.line()
                        )))
                    }
                };
                // comments after the last key up to the next document
                let end = match l.peek() {
                    Some((Event::DocumentEnd, _)) => l
                        .events
                        .iter()
                        .skip(l.pos + 1)
                        .find_map(|(e, s)| {
                            matches!(e, Event::DocumentStart(_) | Event::StreamEnd)
                                .then(|| s.start.line())
                        })
                        .unwrap_or(usize::MAX),
                    Some((_, s)) => s.start.line(),
                    None => usize::MAX,
                };
                for c in l.take_comments(end) {
                    v.push(Item::Comment(c));
                }
                docs.push(Value::Map(v));
            }
            other => {
                return Err(err(format!(
                    "line {}: unexpected {:?}",
                    span.start.line(),
                    other
                )))
            }
        }
    }
    // trailing comments after the last document
    let rest = l.take_comments(usize::MAX);
    if !rest.is_empty() {
        if docs.is_empty() {
            docs.push(Value::Map(vec![]));
        }
        if let Some(Value::Map(m)) = docs.last_mut() {
            m.extend(rest.into_iter().map(Item::Comment));
        }
    }
    if docs.is_empty() {
        docs.push(Value::Map(vec![]));
    }
    Ok(docs)
}

/// The column just after the closing quote of a quoted scalar that
/// starts at `start` on a line (None if it continues on the next line).
fn quoted_end(chars: &[char], start: usize, double: bool) -> Option<usize> {
    let q = if double { '"' } else { '\'' };
    if chars.get(start) != Some(&q) {
        return None;
    }
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if double && c == '\\' {
            i += 2;
            continue;
        }
        if c == q {
            if !double && chars.get(i + 1) == Some(&'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

fn own_event(e: Event<'_>) -> Event<'static> {
    match e {
        Event::Scalar(t, s, a, tag) => Event::Scalar(
            Cow::Owned(t.into_owned()),
            s,
            a,
            tag.map(|t| Cow::Owned(t.into_owned())),
        ),
        Event::SequenceStart(a, tag) => {
            Event::SequenceStart(a, tag.map(|t| Cow::Owned(t.into_owned())))
        }
        Event::MappingStart(a, tag) => {
            Event::MappingStart(a, tag.map(|t| Cow::Owned(t.into_owned())))
        }
        Event::Nothing => Event::Nothing,
        Event::StreamStart => Event::StreamStart,
        Event::StreamEnd => Event::StreamEnd,
        Event::DocumentStart(b) => Event::DocumentStart(b),
        Event::DocumentEnd => Event::DocumentEnd,
        Event::Alias(a) => Event::Alias(a),
        Event::SequenceEnd => Event::SequenceEnd,
        Event::MappingEnd => Event::MappingEnd,
    }
}

// ---------------------------------------------------------------- emit
//
// Layout and quoting follow go-yaml v3 with indent 4 as sops uses it:
// children of a map key are indented 4 from the map's base column; a map
// that is a list item has its keys 2 right of the dash but its base at
// the dash; a list inside a list is written compactly (`- - x`).

/// YAML 1.1 booleans go-yaml still quotes for compatibility.
const YAML11_BOOLS: [&str; 16] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];

enum Quote {
    Plain,
    Single,
    Double,
}

fn quoting(s: &str) -> Quote {
    if s.is_empty() {
        return Quote::Double;
    }
    if s.chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
    {
        return Quote::Double;
    }
    if YAML11_BOOLS.contains(&s)
        || !matches!(
            resolve(s, ScalarStyle::Plain, None, Span::default()),
            Ok(Value::Str(_))
        )
    {
        return Quote::Double;
    }
    let first = s.chars().next().unwrap_or(' ');
    let bad_start = "-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !(matches!(first, '-' | '?' | ':') && s.len() > 1 && !s[1..].starts_with(' '));
    if bad_start
        || s.trim() != s
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.contains('\n')
    {
        return Quote::Single;
    }
    Quote::Plain
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quoted(s: &str) -> String {
    match quoting(s) {
        Quote::Plain => s.to_string(),
        Quote::Single if !s.contains('\n') => format!("'{}'", s.replace('\'', "''")),
        _ => double_quoted(s),
    }
}

fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
        && !s.contains('\r')
}

/// A string scalar; `indent` is the column of block-scalar content.
fn string_scalar(s: &str, indent: usize) -> String {
    if literal_ok(s) {
        let trailing = s.len() - s.trim_end_matches('\n').len();
        let chomp = match trailing {
            0 => "-",
            1 => "",
            _ => "+",
        };
        let body = s.strip_suffix('\n').unwrap_or(s);
        let mut out = format!("|{chomp}");
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&" ".repeat(indent));
                out.push_str(line);
            }
        }
        return out;
    }
    quoted(s)
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            if f.is_infinite() {
                if *f > 0.0 {
                    ".inf".into()
                } else {
                    "-.inf".into()
                }
            } else if f.is_nan() {
                ".nan".into()
            } else {
                format_float(*f)
            }
        }
        Value::Time(t) => t.clone(),
        Value::Str(s) | Value::Comment(s) => string_scalar(s, indent),
        Value::Bytes(b) => string_scalar(&String::from_utf8_lossy(b), indent),
        Value::Map(_) | Value::List(_) => unreachable!("scalar() on a collection"),
    }
}

/// Keys at column `col`; children indented from `base`.
fn emit_map(items: &[Item], col: usize, base: usize, out: &mut String) {
    let pad = " ".repeat(col);
    for it in items {
        match it {
            Item::Comment(c) => {
                out.push_str(&pad);
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Item::Pair(k, v) => {
                out.push_str(&pad);
                if k == "<<" {
                    // sops keeps a merge key as a plain key (the alias
                    // expanded under it); go-yaml tags it on output
                    out.push_str("!!merge <<");
                } else {
                    out.push_str(&quoted(k));
                }
                out.push(':');
                match v {
                    Value::Map(m) if m.is_empty() => out.push_str(" {}\n"),
                    Value::Map(m) => {
                        out.push('\n');
                        emit_map(m, base + 4, base + 4, out);
                    }
                    Value::List(l) if l.is_empty() => out.push_str(" []\n"),
                    Value::List(l) => {
                        out.push('\n');
                        emit_list(l, base + 4, out);
                    }
                    v => {
                        out.push(' ');
                        out.push_str(&scalar(v, base + 4));
                        out.push('\n');
                    }
                }
            }
        }
    }
}

/// Dashes at column `col`.
fn emit_list(items: &[Value], col: usize, out: &mut String) {
    let pad = " ".repeat(col);
    for v in items {
        match v {
            Value::Comment(c) if is_encrypted(c) => {
                out.push_str(&format!("{pad}- {c}\n"));
            }
            Value::Comment(c) => out.push_str(&format!("{pad}#{c}\n")),
            Value::Map(m) if m.is_empty() => out.push_str(&format!("{pad}- {{}}\n")),
            Value::Map(m) if matches!(m[0], Item::Comment(_)) => {
                out.push_str(&format!("{pad}-\n"));
                emit_map(m, col + 2, col, out);
            }
            Value::Map(m) => {
                let mut sub = String::new();
                emit_map(m, col + 2, col, &mut sub);
                out.push_str(&pad);
                out.push_str("- ");
                out.push_str(&sub[col + 2..]);
            }
            Value::List(l) if l.is_empty() => out.push_str(&format!("{pad}- []\n")),
            Value::List(l) if matches!(l[0], Value::Comment(_)) => {
                out.push_str(&format!("{pad}-\n"));
                emit_list(l, col + 2, out);
            }
            Value::List(l) => {
                let mut sub = String::new();
                emit_list(l, col + 2, &mut sub);
                out.push_str(&pad);
                out.push_str("- ");
                out.push_str(&sub[col + 2..]);
            }
            v => {
                out.push_str(&format!("{pad}- {}\n", scalar(v, col + 2)));
            }
        }
    }
}

/// Emit documents (each a map), separated by `---`.
pub fn emit(docs: &[Value]) -> Result<Vec<u8>, Error> {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        match d {
            // a document without keys still has to be a document
            Value::Map(m) if !m.iter().any(|i| matches!(i, Item::Pair(..))) => {
                emit_map(m, 0, 0, &mut out);
                out.push_str("{}\n");
            }
            Value::Map(m) => emit_map(m, 0, 0, &mut out),
            _ => return Err(err("a document must be a map")),
        }
    }
    Ok(out.into_bytes())
}

/// Emit one value on its own (`--extract` of a map or list).
pub fn emit_value(v: &Value) -> Vec<u8> {
    let mut out = String::new();
    match v {
        Value::Map(m) => emit_map(m, 0, 0, &mut out),
        Value::List(l) => emit_list(l, 0, &mut out),
        v => {
            out.push_str(&scalar(v, 4));
            out.push('\n');
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_go_yaml() {
        let d =
            load("a: 1\nb: 1.5\nc: true\nd: yes\ne: 2024-01-02\nf: ~\ng: '1'\nh: 0x10\n").unwrap();
        let m = &d[0];
        assert_eq!(m.get("a"), Some(&Value::Int(1)));
        assert_eq!(m.get("b"), Some(&Value::Float(1.5)));
        assert_eq!(m.get("c"), Some(&Value::Bool(true)));
        assert_eq!(m.get("d"), Some(&Value::Str("yes".into())));
        assert_eq!(
            m.get("e"),
            Some(&Value::Time("2024-01-02T00:00:00Z".into()))
        );
        assert_eq!(m.get("f"), Some(&Value::Null));
        assert_eq!(m.get("g"), Some(&Value::Str("1".into())));
        assert_eq!(m.get("h"), Some(&Value::Int(16)));
    }

    #[test]
    fn inline_comments_move_above() {
        let d = load(
            "a: 1 # one\nb: \"x # not\" # two\nc: 'it''s' #three\nl:\n    - v # four\nd: a#b\n",
        )
        .unwrap();
        let Value::Map(m) = &d[0] else { panic!() };
        assert_eq!(m[0], Item::Comment(" one".into()));
        assert_eq!(m[2], Item::Comment(" two".into()));
        assert_eq!(m[3], Item::Pair("b".into(), Value::Str("x # not".into())));
        assert_eq!(m[4], Item::Comment("three".into()));
        let Some(Value::List(l)) = d[0].get("l") else {
            panic!()
        };
        assert_eq!(l[0], Value::Comment(" four".into()));
        assert_eq!(d[0].get("d"), Some(&Value::Str("a#b".into())));
        assert_eq!(m.len(), 8);
    }

    #[test]
    fn comments_become_items() {
        let d =
            load("# top\na: 1\nb:\n    # inner\n    c: x\nl:\n    # in list\n    - 1\n").unwrap();
        let Value::Map(m) = &d[0] else { panic!() };
        assert_eq!(m[0], Item::Comment(" top".into()));
        let Some(Value::Map(b)) = d[0].get("b") else {
            panic!()
        };
        assert_eq!(b[0], Item::Comment(" inner".into()));
        let Some(Value::List(l)) = d[0].get("l") else {
            panic!()
        };
        assert_eq!(l[0], Value::Comment(" in list".into()));
    }

    #[test]
    fn emit_roundtrips() {
        let src = "a: \"1\"\nb:\n    c: |\n        line1\n        line2\n    d:\n        - x\n        - k: v\n          j: \"true\"\n# end\ne: \"\"\nf: null\n";
        let d = load(src).unwrap();
        let out = String::from_utf8(emit(&d).unwrap()).unwrap();
        assert_eq!(load(&out).unwrap(), d, "{out}");
        assert_eq!(out, src);
    }

    #[test]
    fn multi_document_and_anchors() {
        let d = load("a: &x {k: 1}\nb: *x\n---\nc: 2\n").unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].get("a"), d[0].get("b"));
        assert!(load("- 1\n").is_err());
        assert!(load("a: 1\na: 2\n").is_err());
    }
}
