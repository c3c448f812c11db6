//! Small helpers for building and reading Nix values from Rust, and the
//! message fragments nixpkgs' lib uses (`showOption`, `showDefs`,
//! `showFiles`, `generators.toPretty`).

use std::rc::Rc;

use ox_eval::error::{ErrorKind, EvalError, FileId, Span};
use ox_eval::value::{sym, Attrs, ListVec, PrimFn, PrimOp, PrimOpApp, Sym};
use ox_eval::{Eval, Result, Value};

/// A thunk computed by Rust code; its result is forced (a native thunk
/// must not evaluate to another thunk).
pub fn lazy(f: impl Fn(&mut Eval) -> Result<Value> + 'static) -> Value {
    ox_eval::value::Thunk::native(move |ev| {
        let v = f(ev)?;
        ev.force(v)
    })
}

pub fn nospan() -> Span {
    Span {
        file: FileId(u32::MAX),
        start: 0,
        end: 0,
    }
}

pub fn attrs(entries: Vec<(&'static str, Value)>) -> Value {
    Value::attrs(Attrs::from_unsorted(
        entries.into_iter().map(|(k, v)| (key(k), v)).collect(),
    ))
}

thread_local! {
    static KEYS: std::cell::RefCell<rustc_hash::FxHashMap<(usize, usize), Sym>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

/// `sym(k)` for the attribute names native code writes (string
/// literals, or names already interned): looked up by address, which is
/// much cheaper than interning by content. A `'static` string's address
/// is never another string's, so no comparison is needed.
pub fn key(k: &'static str) -> Sym {
    let addr = (k.as_ptr() as usize, k.len());
    KEYS.with(|c| {
        if let Some(s) = c.borrow().get(&addr) {
            return *s;
        }
        let s = sym(k);
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(addr, s);
        s
    })
}

pub fn attrs_sym(entries: Vec<(Sym, Value)>) -> Value {
    Value::attrs(Attrs::from_unsorted(entries))
}

pub fn s(x: impl Into<String>) -> Value {
    Value::str(x)
}

/// A primop (`arity` arguments) with some of them already applied.
pub fn papp(name: &'static str, arity: usize, f: PrimFn, args: Vec<Value>) -> Value {
    let op = Rc::new(PrimOp { name, arity, f });
    if args.is_empty() {
        Value::PrimOp(op)
    } else {
        Value::PrimOpApp(Rc::new(PrimOpApp { op, args }))
    }
}

pub fn prim(name: &'static str, arity: usize, f: PrimFn) -> Value {
    papp(name, arity, f, Vec::new())
}

pub fn throw<T>(msg: impl Into<String>) -> Result<T> {
    Err(EvalError::new(ErrorKind::Throw, msg, None))
}

pub fn fail<T>(msg: impl Into<String>, span: Span) -> Result<T> {
    Err(EvalError::new(ErrorKind::Throw, msg, Some(span)))
}

pub fn force_attrs(ev: &mut Eval, v: &Value, what: &str) -> Result<Rc<Attrs>> {
    if let Value::Attrs(a) = v {
        return Ok(a.clone());
    }
    match ev.force(v.clone())? {
        Value::Attrs(a) => Ok(a),
        o => Err(EvalError::new(
            ErrorKind::Type,
            format!(
                "value is {} while a set was expected ({})",
                o.type_name(),
                what
            ),
            None,
        )),
    }
}

/// `force_attrs` with the description built only for the error (hot
/// paths: formatting option names on every call showed in profiles).
pub fn force_attrs_with(
    ev: &mut Eval,
    v: &Value,
    what: impl FnOnce() -> String,
) -> Result<Rc<Attrs>> {
    if let Value::Attrs(a) = v {
        return Ok(a.clone());
    }
    match ev.force(v.clone())? {
        Value::Attrs(a) => Ok(a),
        o => force_attrs(ev, &o, &what()),
    }
}

pub fn force_list_with(
    ev: &mut Eval,
    v: &Value,
    what: impl FnOnce() -> String,
) -> Result<Rc<ListVec>> {
    if let Value::List(a) = v {
        return Ok(a.clone());
    }
    match ev.force(v.clone())? {
        Value::List(a) => Ok(a),
        o => force_list(ev, &o, &what()),
    }
}

pub fn force_list(ev: &mut Eval, v: &Value, what: &str) -> Result<Rc<ListVec>> {
    if let Value::List(a) = v {
        return Ok(a.clone());
    }
    match ev.force(v.clone())? {
        Value::List(a) => Ok(a),
        o => Err(EvalError::new(
            ErrorKind::Type,
            format!(
                "value is {} while a list was expected ({})",
                o.type_name(),
                what
            ),
            None,
        )),
    }
}

pub fn force_str(ev: &mut Eval, v: &Value, what: &str) -> Result<String> {
    match ev.force(v.clone())? {
        Value::Str(a) => Ok(a.s.clone()),
        Value::Path(p) => Ok((*p).clone()),
        o => Err(EvalError::new(
            ErrorKind::Type,
            format!(
                "value is {} while a string was expected ({})",
                o.type_name(),
                what
            ),
            None,
        )),
    }
}

pub fn force_bool(ev: &mut Eval, v: &Value, what: &str) -> Result<bool> {
    // (mostly a value already: no clone, no call of the evaluator)
    if let Value::Bool(b) = v {
        return Ok(*b);
    }
    match ev.force(v.clone())? {
        Value::Bool(b) => Ok(b),
        o => Err(EvalError::new(
            ErrorKind::Type,
            format!(
                "value is {} while a Boolean was expected ({})",
                o.type_name(),
                what
            ),
            None,
        )),
    }
}

/// `x._type or ""` of a value in WHNF.
pub fn type_tag(v: &Value) -> Option<String> {
    if let Value::Attrs(a) = v {
        if let Some(Value::Str(t)) = a.get("_type") {
            return Some(t.s.clone());
        }
        // `_type` may be an unevaluated thunk in hand-written sets
        if let Some(Value::Thunk(t)) = a.get("_type") {
            if let Some(Value::Str(s)) = t.done_value() {
                return Some(s.s.clone());
            }
        }
    }
    None
}

/// Like `type_tag`, forcing `_type` if needed.
/// A value's `_type` (shared with the value: no copy per look).
pub struct Tag(Rc<ox_eval::value::NixString>);

impl std::ops::Deref for Tag {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0.s
    }
}

pub fn type_tag_force(ev: &mut Eval, v: &Value) -> Result<Option<Tag>> {
    if let Value::Attrs(a) = v {
        // Names are sorted, and `_type` sorts after upper-case names and
        // before lower-case ones: scan from the start and stop at the
        // first name after it (at once in most sets of definitions; first
        // in an option or a type). Interned, so mostly equal by address.
        let e = a.entries();
        if e.len() > 32 {
            // (a big set with upper-case names: its index)
            if let Some(t) = a.get(TYPE_KEY.with(|t| *t)) {
                if let Value::Str(s) = ev.force(t.clone())? {
                    return Ok(Some(Tag(s)));
                }
            }
            return Ok(None);
        }
        // (the first byte decides for most names: no thread-local read
        // of the interned name, no comparison of contents)
        for (k, x) in e {
            match k.as_bytes().first() {
                Some(b) if *b > b'_' => return Ok(None),
                Some(b'_') => {
                    if *k == "_type" {
                        if let Value::Str(s) = ev.force(x.clone())? {
                            return Ok(Some(Tag(s)));
                        }
                        return Ok(None);
                    }
                    if *k > "_type" {
                        return Ok(None);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(None)
}

thread_local! {
    static TYPE_KEY: Sym = sym("_type");
}

pub fn is_identifier(s: &str) -> bool {
    ox_eval::print::is_identifier(s)
}

/// nixpkgs' `showOption`: `a.b."c d".<name>`.
pub fn show_option<S: AsRef<str>>(loc: &[S]) -> String {
    loc.iter()
        .map(|p| {
            let p = p.as_ref();
            // nixpkgs: `*`, `<…>` and `[a-zA-Z0-9_][a-zA-Z0-9_'-]*` unquoted
            let plain = !p.is_empty()
                && p.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '-'));
            if plain || p == "*" || (p.len() > 2 && p.starts_with('<') && p.ends_with('>')) {
                p.to_string()
            } else {
                let mut o = String::new();
                ox_eval::print::escape_string(p, &mut o);
                o
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A definition: where it came from and its value.
#[derive(Clone)]
pub struct Def {
    pub file: Rc<str>,
    pub pos: Option<Span>,
    pub value: Value,
}

impl Def {
    /// The file, with line and column when known.
    pub fn where_(&self) -> String {
        match self.pos.and_then(|p| p.line_col().map(|lc| (p, lc))) {
            Some((p, (l, c))) if p.file_name() == *self.file => {
                format!("{}:{}:{}", self.file, l, c)
            }
            Some((p, (l, c))) => format!("{}' at `{}:{}:{}", self.file, p.file_name(), l, c),
            None => self.file.to_string(),
        }
    }
    pub fn to_value(&self) -> Value {
        let mut e = vec![("file", s(&*self.file)), ("value", self.value.clone())];
        if let Some(p) = self.pos {
            e.push(("_oxPos", pos_value(p)));
        }
        attrs(e)
    }
    pub fn from_value(ev: &mut Eval, v: &Value) -> Result<Def> {
        let a = force_attrs(ev, v, "a definition")?;
        let file = match a.get("file") {
            Some(f) => force_str(ev, f, "the file of a definition")?,
            None => "<unknown-file>".into(),
        };
        let pos = match a.get("_oxPos") {
            Some(Value::Attrs(p)) => span_of_pos(p),
            _ => None,
        };
        Ok(Def {
            file: file.into(),
            pos,
            value: a.get("value").cloned().unwrap_or(Value::Null),
        })
    }
}

// A span travels through Nix values as an opaque pair of integers.
fn pos_value(p: Span) -> Value {
    attrs(vec![
        ("f", Value::Int(p.file.0 as i64)),
        ("s", Value::Int(p.start as i64)),
    ])
}

fn span_of_pos(a: &Attrs) -> Option<Span> {
    match (a.get("f"), a.get("s")) {
        (Some(Value::Int(f)), Some(Value::Int(st))) => Some(Span {
            file: FileId(*f as u32),
            start: *st as u32,
            end: *st as u32,
        }),
        _ => None,
    }
}

pub fn defs_from_list(ev: &mut Eval, v: &Value) -> Result<Vec<Def>> {
    let l = force_list(ev, v, "the definitions of an option")?;
    l.iter().map(|d| Def::from_value(ev, d)).collect()
}

pub fn defs_to_list(defs: &[Def]) -> Value {
    Value::list(defs.iter().map(|d| d.to_value()).collect())
}

/// An option's location: its attribute names (interned, so that a
/// child's location is one allocation).
pub type Loc = Vec<Sym>;

pub fn loc_from_value(ev: &mut Eval, v: &Value) -> Result<Loc> {
    let l = force_list(ev, v, "an option location")?;
    l.iter()
        .map(|x| Ok(sym(&force_str(ev, x, "an option location")?)))
        .collect()
}

pub fn loc_to_value<S: AsRef<str>>(loc: &[S]) -> Value {
    Value::list(loc.iter().map(|x| s(x.as_ref())).collect())
}

/// nixpkgs' `showDefs`, with `file:line:col` where ox knows it.
pub fn show_defs(ev: &mut Eval, defs: &[Def]) -> String {
    let mut out = String::new();
    for d in defs {
        out.push_str("\n- In `");
        out.push_str(&d.where_());
        out.push('\'');
        if let Ok(p) = to_pretty_safe(ev, &d.value) {
            let lines: Vec<&str> = p.split('\n').collect();
            if lines.len() > 1 {
                out.push_str(":\n    ");
                let mut shown: Vec<&str> = lines.iter().take(5).copied().collect();
                if lines.len() > 5 {
                    shown.push("...");
                }
                out.push_str(&shown.join("\n    "));
            } else {
                out.push_str(": ");
                out.push_str(&p);
            }
        }
    }
    out
}

/// `lib.warn` as nixpkgs defines it for a Nix without `builtins.warn`
/// (such as the Nix 2.8 ox is compared with): a `builtins.trace` of
/// "evaluation warning: MSG" in bold magenta, through the evaluator's
/// trace channel (`Eval::trace_hook`, stderr by default).
pub fn warn(ev: &mut Eval, msg: &str) {
    ev.trace(&format!(
        "trace: \x1b[1;35mevaluation warning:\x1b[0m {msg}"
    ));
}

/// nixpkgs' `showFiles`: `` `a' and `b' ``.
pub fn show_files(files: &[String]) -> String {
    let q: Vec<String> = files.iter().map(|f| format!("`{}'", f)).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} and {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

pub const PRIORITY_SUGGESTION: &str =
    "Use `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.";

fn to_pretty_safe(ev: &mut Eval, v: &Value) -> Result<String> {
    let mut out = String::new();
    pretty(ev, v, &mut out, "", 10, true)?;
    Ok(out)
}

/// `generators.toPretty { multiline; }`, depth-limited.
pub fn to_pretty(ev: &mut Eval, v: &Value, multiline: bool) -> Result<String> {
    let mut out = String::new();
    pretty(ev, v, &mut out, "", usize::MAX, multiline)?;
    Ok(out)
}

fn pretty(
    ev: &mut Eval,
    v: &Value,
    out: &mut String,
    indent: &str,
    depth: usize,
    ml: bool,
) -> Result<()> {
    let v = ev.force(v.clone())?;
    if depth == 0 {
        out.push_str("<unevaluated>");
        return Ok(());
    }
    let (nl, ind2) = if ml {
        ("\n", format!("{}  ", indent))
    } else {
        (" ", String::new())
    };
    let sep_end = if ml {
        format!("\n{}", indent)
    } else {
        " ".into()
    };
    match &v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format!("{:.6}", f)),
        Value::Path(p) => out.push_str(p),
        Value::Str(st) => {
            // nixpkgs: multi-line strings as '' … '' (closing on the last
            // line unless it is empty), others quoted with \n escapes.
            let lines: Vec<&str> = st.s.split('\n').collect();
            if ml && lines.len() > 1 {
                let esc: Vec<String> = lines.iter().map(|l| escape_multiline(l)).collect();
                let intro = format!("\n{}  ", indent);
                out.push_str("''");
                for l in &esc[..esc.len() - 1] {
                    out.push_str(&intro);
                    out.push_str(l);
                }
                let last = &esc[esc.len() - 1];
                if last.is_empty() {
                    out.push('\n');
                    out.push_str(indent);
                } else {
                    out.push_str(&intro);
                    out.push_str(last);
                }
                out.push_str("''");
            } else {
                out.push('"');
                let esc: Vec<String> = lines
                    .iter()
                    .map(|l| {
                        l.replace('\\', "\\\\")
                            .replace('"', "\\\"")
                            .replace("${", "\\${")
                    })
                    .collect();
                out.push_str(&esc.join("\\n"));
                out.push('"');
            }
        }
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[ ]");
            } else {
                out.push('[');
                for x in l.iter() {
                    out.push_str(nl);
                    out.push_str(&ind2);
                    pretty(ev, x, out, &ind2, depth - 1, ml)?;
                }
                out.push_str(&sep_end);
                out.push(']');
            }
        }
        Value::Attrs(a) => {
            if let Some(Value::Str(t)) = a.get("type").map(|t| ev.force(t.clone())).transpose()? {
                if t.s == "derivation" {
                    let name = match a.get("name") {
                        Some(n) => force_str(ev, n, "a derivation name")?,
                        None => "???".into(),
                    };
                    out.push_str(&format!("<derivation {}>", name));
                    return Ok(());
                }
            }
            if a.is_empty() {
                out.push_str("{ }");
            } else {
                out.push('{');
                for (k, x) in a.entries().iter() {
                    out.push_str(nl);
                    out.push_str(&ind2);
                    ox_eval::print::print_attr_name(k, out);
                    out.push_str(" = ");
                    pretty(ev, x, out, &ind2, depth - 1, ml)?;
                    out.push(';');
                }
                out.push_str(&sep_end);
                out.push('}');
            }
        }
        Value::Lambda(c) => match &c.def.formals {
            Some(f) if !f.entries.is_empty() => {
                let args: Vec<String> = f
                    .entries
                    .iter()
                    .map(|(n, d)| format!("{}{}", n, if d.is_some() { "?" } else { "" }))
                    .collect();
                out.push_str(&format!("<function, args: {{{}}}>", args.join(", ")));
            }
            _ => out.push_str("<function>"),
        },
        Value::PrimOp(_) | Value::PrimOpApp(_) => out.push_str("<function>"),
        Value::Thunk(_) => out.push_str("<thunk>"),
    }
    Ok(())
}

/// The closest names to `name` (Levenshtein distance ≤ 3, at most 3).
pub fn suggestions(name: &str, candidates: &[String]) -> Vec<String> {
    let mut c: Vec<(usize, &String)> = candidates
        .iter()
        .map(|c| (ox_eval::eval::levenshtein(name, c), c))
        .filter(|(d, _)| *d <= 3)
        .collect();
    c.sort();
    c.into_iter().take(3).map(|(_, s)| s.clone()).collect()
}

/// "`a', `b' or `c'"
pub fn or_list(xs: &[String]) -> String {
    let q: Vec<String> = xs.iter().map(|f| format!("`{}'", f)).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} or {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

pub fn get<'a>(a: &'a Attrs, k: &str) -> Option<&'a Value> {
    a.get(k)
}

pub fn name_of(k: Sym) -> String {
    k.to_string()
}

/// nixpkgs' `replaceStrings [ "${" "''" ] [ "''${" "'''" ]`.
fn escape_multiline(l: &str) -> String {
    let mut out = String::new();
    let mut rest = l;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("${") {
            out.push_str("''${");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("''") {
            out.push_str("'''");
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}
