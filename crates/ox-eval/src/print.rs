//! Printing values exactly as `nix-instantiate --eval` prints them, and
//! as JSON (`--json`, `builtins.toJSON`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::rc::Rc;

use crate::error::Result;
use crate::eval::Eval;
use crate::value::Value;

/// Format a float like C++'s `std::ostream << double` (`%g`, precision 6).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return if f.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.5e}", f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let mant = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", mant, sign, exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        strip_zeros(&format!("{:.*}", decimals, f))
    }
}

fn strip_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// A Nix string literal (`"…"` with `\"`, `\\`, `\n`, `\r`, `\t`), also
/// escaping `${` when its flag is set: the store's ATerm quoting, which
/// is the same without the `${`.
pub use ox_store::derivation::quote_into;

pub fn escape_string(s: &str, out: &mut String) {
    quote_into(s, out, true)
}

/// Names Nix 2.8 quotes when printing attribute names, besides
/// non-identifiers (it quotes only `if` among the keywords).
const KEYWORDS: &[&str] = &["if"];

pub fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    match cs.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '\'' || c == '-')
        && !KEYWORDS.contains(&s)
}

pub fn print_attr_name(s: &str, out: &mut String) {
    if is_identifier(s) {
        out.push_str(s)
    } else {
        escape_string(s, out)
    }
}

/// Print a value without forcing anything: unevaluated parts show as
/// `<CODE>`, like `nix-instantiate --eval` without `--strict`.
pub fn print_value(v: &Value) -> String {
    let mut out = String::new();
    let mut seen = HashSet::new();
    print_inner(v, &mut out, &mut seen);
    out
}

fn print_inner(v: &Value, out: &mut String, seen: &mut HashSet<usize>) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{}", i);
        }
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::Str(s) => escape_string(&s.s, out),
        Value::Path(p) => out.push_str(p),
        Value::Attrs(a) => {
            if !seen.insert(Rc::as_ptr(a) as *const u8 as usize) {
                out.push_str("«repeated»");
                return;
            }
            out.push_str("{ ");
            for (k, x) in a.entries().iter() {
                print_attr_name(k, out);
                out.push_str(" = ");
                stacker::maybe_grow(64 * 1024, 1024 * 1024, || print_inner(x, out, seen));
                out.push_str("; ");
            }
            out.push('}');
        }
        Value::List(l) => {
            if !seen.insert(Rc::as_ptr(l) as *const u8 as usize) {
                out.push_str("«repeated»");
                return;
            }
            out.push_str("[ ");
            for x in l.iter() {
                stacker::maybe_grow(64 * 1024, 1024 * 1024, || print_inner(x, out, seen));
                out.push(' ');
            }
            out.push(']');
        }
        Value::Lambda(_) => out.push_str("<LAMBDA>"),
        Value::PrimOp(_) => out.push_str("<PRIMOP>"),
        Value::PrimOpApp(_) => out.push_str("<PRIMOP-APP>"),
        Value::Thunk(t) => match t.done_ref() {
            Some(v) => print_inner(v, out, seen),
            None => out.push_str("<CODE>"),
        },
    }
}

/// What the JSON printer carries down the value.
struct JsonCx<'a> {
    /// Copy paths to the store (`builtins.toJSON`) instead of printing them.
    copy: bool,
    span: crate::error::Span,
    /// Force unevaluated parts (else they are an error).
    force: bool,
    /// The contexts of the strings printed.
    ctx: std::collections::BTreeSet<String>,
    /// Where the text goes in pieces (`write_json`); without one it is
    /// all kept in the string.
    sink: Option<&'a mut dyn FnMut(&str)>,
}

/// `write_json` hands the text on whenever this much has accumulated.
const JSON_PIECE: usize = 64 * 1024;

impl JsonCx<'_> {
    /// Hand a full buffer to the sink, if there is one.
    #[inline]
    fn hand_on(&mut self, out: &mut String) {
        if out.len() >= JSON_PIECE {
            if let Some(f) = self.sink.as_mut() {
                f(out);
                out.clear();
            }
        }
    }
}

/// JSON as `builtins.toJSON` renders it (forces as it goes).
pub fn to_json(
    ev: &mut Eval,
    v: Value,
    copy_to_store: bool,
    span: crate::error::Span,
) -> Result<String> {
    Ok(to_json_ctx(ev, v, copy_to_store, span)?.0)
}

/// JSON plus the union of the contexts of every string serialised (what
/// `builtins.toJSON`'s result carries).
pub fn to_json_ctx(
    ev: &mut Eval,
    v: Value,
    copy_to_store: bool,
    span: crate::error::Span,
) -> Result<(String, std::collections::BTreeSet<String>)> {
    let mut out = String::new();
    let mut cx = JsonCx {
        copy: copy_to_store,
        span,
        force: true,
        ctx: Default::default(),
        sink: None,
    };
    json_inner(ev, &v, &mut out, &mut cx)?;
    Ok((out, cx.ctx))
}

/// JSON of `v` (forced as it goes, paths printed, not copied), handed to
/// `sink` in pieces of about 64 KiB instead of built as one string: a
/// 1000-host fleet's configuration is 5 MB of JSON, whose growing buffer
/// would be fresh memory for the kernel to clear page by page.
pub fn write_json(
    ev: &mut Eval,
    v: Value,
    span: crate::error::Span,
    sink: &mut dyn FnMut(&str),
) -> Result<()> {
    let mut out = String::with_capacity(JSON_PIECE + 1024);
    let mut cx = JsonCx {
        copy: false,
        span,
        force: true,
        ctx: Default::default(),
        sink: Some(sink),
    };
    json_inner(ev, &v, &mut out, &mut cx)?;
    if let Some(f) = cx.sink {
        f(&out);
    }
    Ok(())
}

/// JSON of an already evaluated value, without forcing anything: an
/// unevaluated part is an error (`nix-instantiate --eval --json` without
/// `--strict`).
pub fn to_json_lazy(ev: &mut Eval, v: Value, span: crate::error::Span) -> Result<String> {
    let mut out = String::new();
    let mut cx = JsonCx {
        copy: false,
        span,
        force: false,
        ctx: Default::default(),
        sink: None,
    };
    json_inner(ev, &v, &mut out, &mut cx)?;
    Ok(out)
}

/// Whether any byte of `w` is below 0x20, `"` or `\\` (exact: the
/// has-zero-byte test on `w` and on `w` xor each quote byte).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let q = w ^ (ONES * b'"' as u64);
    let quote = q.wrapping_sub(ONES) & !q & HIGH;
    let bs = w ^ (ONES * b'\\' as u64);
    let backslash = bs.wrapping_sub(ONES) & !bs & HIGH;
    below | quote | backslash != 0
}

pub fn json_escape(s: &str, out: &mut String) {
    let b = s.as_bytes();
    // Most strings (attribute names, option values) need no escape at
    // all: test them a word at a time — a short one padded with spaces
    // into one word, a long one in words and a last, overlapping word —
    // and copy them whole.
    let clean = if b.len() < 8 {
        let mut w = [b' '; 8];
        w[..b.len()].copy_from_slice(b);
        !word_needs_escape(u64::from_le_bytes(w))
    } else {
        let last = u64::from_le_bytes(b[b.len() - 8..].try_into().expect("8 bytes"));
        !word_needs_escape(last)
            && b.chunks_exact(8)
                .all(|w| !word_needs_escape(u64::from_le_bytes(w.try_into().expect("8 bytes"))))
    };
    out.reserve(b.len() + 2);
    out.push('"');
    if clean {
        out.push_str(s);
    } else {
        escape_runs(s, out);
    }
    out.push('"');
}

/// The inside of a JSON string that needs escapes.
fn escape_runs(s: &str, out: &mut String) {
    // Copy runs of bytes that need no escape in one go: only `"`, `\\`
    // and control characters (all ASCII) are escaped, so a run never
    // splits a UTF-8 sequence.
    let b = s.as_bytes();
    let mut from = 0;
    let mut i = 0;
    while i < b.len() {
        // Eight bytes at a time while none needs an escape.
        if let Some(w) = b.get(i..i + 8) {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            if !word_needs_escape(w) {
                i += 8;
                continue;
            }
        }
        let c = b[i];
        i += 1;
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        let i = i - 1;
        out.push_str(&s[from..i]);
        from = i + 1;
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            // Nix 2.8 has no short forms for \b and \f
            c => {
                let _ = write!(out, "\\u{:04x}", c);
            }
        }
    }
    out.push_str(&s[from..]);
}

/// An integer in decimal, without the formatting machinery (`write!`
/// costs ~150 instructions; the printer writes many small numbers).
pub fn push_int(i: i64, out: &mut String) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&buf[at..]).expect("digits"));
}

/// Whether a set has `__toString`, and its `outPath`: for a small set one
/// look at each name's first byte instead of two binary searches (the
/// printer asks this of every set it prints).
fn special_attrs(a: &crate::value::Attrs) -> (bool, Option<&Value>) {
    let e = a.entries();
    if e.len() > 16 {
        return (a.get("__toString").is_some(), a.get("outPath"));
    }
    let (mut to_string, mut out_path) = (false, None);
    for (k, x) in e {
        match k.as_bytes().first() {
            Some(b'_') if *k == "__toString" => to_string = true,
            Some(b'o') if *k == "outPath" => out_path = Some(x),
            _ => {}
        }
    }
    (to_string, out_path)
}

fn json_inner(ev: &mut Eval, v: &Value, out: &mut String, cx: &mut JsonCx) -> Result<()> {
    // Read an evaluated thunk through a borrow: no reference-count
    // traffic per printed value.
    let forced;
    let v = match v {
        Value::Thunk(t) => match t.done_ref() {
            Some(d) => d,
            None => {
                if !cx.force {
                    return crate::error::type_err("cannot convert a thunk to JSON", cx.span);
                }
                forced = ev.force(v.clone())?;
                &forced
            }
        },
        v => v,
    };
    // Scalars first: only sets and lists recurse, so only they need the
    // stack measured.
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => push_int(*i, out),
        Value::Str(s) => {
            if let Some(c) = &s.ctx {
                cx.ctx.extend(c.iter().cloned());
            }
            json_escape(&s.s, out)
        }
        _ => return stacker::maybe_grow(64 * 1024, 1024 * 1024, || json_compound(ev, v, out, cx)),
    }
    Ok(())
}

/// `json_inner` of a value that is not a null, Boolean, integer or string.
fn json_compound(ev: &mut Eval, v: &Value, out: &mut String, cx: &mut JsonCx) -> Result<()> {
    match v {
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Str(_) => {
            unreachable!("scalars are printed by json_inner")
        }
        Value::Float(f) => out.push_str(&format_float(*f)),
        Value::Path(p) => {
            let s = if cx.copy {
                let sp = ev.copy_path_to_store(p, cx.span)?;
                cx.ctx.insert(sp.clone());
                sp
            } else {
                p.to_string()
            };
            json_escape(&s, out)
        }
        Value::Attrs(a) => {
            let (to_string, out_path) = special_attrs(a);
            if to_string {
                let s = ev.coerce_to_string(v.clone(), cx.span, false, cx.copy)?;
                if let Some(c) = &s.ctx {
                    cx.ctx.extend(c.iter().cloned());
                }
                json_escape(&s.s, out);
                return Ok(());
            }
            if let Some(o) = out_path {
                return json_inner(ev, o, out, cx);
            }
            out.push('{');
            let mut first = true;
            for (k, x) in a.entries().iter() {
                if !first {
                    out.push(',');
                }
                first = false;
                json_escape(k, out);
                out.push(':');
                json_inner(ev, x, out, cx)?;
                cx.hand_on(out);
            }
            out.push('}');
        }
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_inner(ev, x, out, cx)?;
                cx.hand_on(out);
            }
            out.push(']');
        }
        Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => {
            return crate::error::type_err("cannot convert a function to JSON", cx.span)
        }
        Value::Thunk(_) => unreachable!("forced above"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::json_escape;

    /// The escape rules one byte at a time, as Nix 2.8 applies them.
    fn reference(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn json_escape_agrees_with_bytewise_rules() {
        // every special byte at every offset of a 20-byte plain run, so the
        // eight-byte test sees it in each lane and in the tail
        let specials = [
            "\"", "\\", "\n", "\r", "\t", "\u{1}", "\u{8}", "\u{c}", "\u{1f}", "\u{7f}", "é", "→",
            "!", "#", "[", "]", "\u{20}",
        ];
        let plain = "abcdefghijklmnopqrst";
        for sp in specials {
            for at in 0..=plain.len() {
                let s = format!("{}{}{}", &plain[..at], sp, &plain[at..]);
                let mut out = String::new();
                json_escape(&s, &mut out);
                assert_eq!(out, reference(&s), "{s:?}");
            }
        }
        // short strings (one padded word) and lengths around a word
        let plain = "abcdefghijklmnopq";
        for sp in specials {
            for len in 0..=plain.len() {
                for at in 0..=len {
                    let s = format!("{}{}{}", &plain[..at], sp, &plain[at..len]);
                    let mut out = String::new();
                    json_escape(&s, &mut out);
                    assert_eq!(out, reference(&s), "{s:?}");
                }
                let mut out = String::new();
                json_escape(&plain[..len], &mut out);
                assert_eq!(out, reference(&plain[..len]));
            }
        }
    }

    /// `write_json` hands on pieces whose concatenation is `to_json`'s
    /// text, several of them for a big value.
    #[test]
    fn write_json_pieces_make_the_whole() {
        let mut ev = crate::Eval::new(crate::Settings::default());
        let v = ev
            .eval_string(
                r#"builtins.genList (i: { n = i; s = "x\"${toString i}"; l = [ null true 1.5 ]; }) 5000"#,
                "<test>",
                "/",
            )
            .expect("evaluates");
        let span = crate::error::Span {
            file: crate::error::FileId(u32::MAX),
            start: 0,
            end: 0,
        };
        let mut pieces: Vec<String> = Vec::new();
        super::write_json(&mut ev, v.clone(), span, &mut |p: &str| {
            pieces.push(p.to_string())
        })
        .expect("prints");
        let whole = super::to_json(&mut ev, v, false, span).expect("prints");
        assert!(whole.len() > 3 * super::JSON_PIECE, "{}", whole.len());
        assert!(pieces.len() >= 3, "{} pieces", pieces.len());
        assert_eq!(pieces.concat(), whole);
    }

    #[test]
    fn push_int_is_decimal() {
        for i in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            100,
            2003,
            123456789,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = String::from("x");
            super::push_int(i, &mut out);
            assert_eq!(out, format!("x{i}"));
        }
    }
}
