//! The `builtins` set. Each builtin is a `PrimOp` with a fixed arity that
//! receives its arguments unforced (builtins are lazy in exactly the
//! arguments Nix's are). The list of builtins and their status is in
//! docs/builtins.md.

use std::rc::Rc;

use crate::compile::Expr;
use crate::error::{err, type_err, ErrorKind, EvalError, Result, Span};
use crate::eval::Eval;
use crate::value::*;

mod attrs;
mod lists;
mod misc;
pub(crate) use misc::io_msg;
mod strings;

/// Names reachable without `builtins.` (besides `__name` for every builtin).
const GLOBAL_NAMES: &[&str] = &[
    "abort",
    "baseNameOf",
    "derivation",
    "dirOf",
    "fetchGit",
    "fetchMercurial",
    "fetchTarball",
    "fetchTree",
    "fromTOML",
    "import",
    "isNull",
    "map",
    "placeholder",
    "removeAttrs",
    "scopedImport",
    "throw",
    "toString",
];

pub(crate) struct Registry {
    pub entries: Vec<(Sym, Value)>,
}

impl Registry {
    pub fn add(&mut self, name: &'static str, arity: usize, f: PrimFn) {
        self.entries
            .push((name, Value::PrimOp(Rc::new(PrimOp { name, arity, f }))));
    }
    pub fn value(&mut self, name: &'static str, v: Value) {
        self.entries.push((name, v));
    }
}

pub(crate) fn install(ev: &mut Eval) {
    let mut r = Registry {
        entries: Vec::new(),
    };
    lists::register(&mut r);
    attrs::register(&mut r);
    strings::register(&mut r);
    misc::register(&mut r, ev);

    // Values of the base scope.
    r.value("true", Value::Bool(true));
    r.value("false", Value::Bool(false));
    r.value("null", Value::Null);
    r.value("langVersion", Value::Int(6));
    r.value("nixVersion", Value::str("2.18.0-ox"));
    r.value("storeDir", Value::str(ev.settings.store_dir.clone()));
    r.value("currentSystem", Value::str(ev.settings.system.clone()));
    let np: Vec<Value> = ev
        .settings
        .search_path
        .iter()
        .map(|(prefix, path)| {
            Value::attrs(Attrs::from_sorted(vec![
                ("path", Value::str(path.clone())),
                ("prefix", Value::str(prefix.clone())),
            ]))
        })
        .collect();
    r.value("nixPath", Value::list(np));

    // `builtins` contains itself; tie the knot through a thunk.
    let cell: Rc<std::cell::RefCell<Option<Value>>> = Rc::new(std::cell::RefCell::new(None));
    ev.builtins_cell = cell.clone();
    let c2 = cell.clone();
    let self_ref = Thunk::native(move |_| Ok(c2.borrow().clone().unwrap_or(Value::Null)));
    r.value("builtins", self_ref);
    let builtins = Value::attrs(Attrs::from_unsorted(r.entries.clone()));
    *cell.borrow_mut() = Some(builtins.clone());

    let mut globals = std::collections::HashMap::new();
    for (k, v) in r.entries.iter() {
        if !matches!(*k, "true" | "false" | "null") {
            globals.insert(sym(&format!("__{}", k)), v.clone());
        }
    }
    for name in GLOBAL_NAMES {
        if let Some((_, v)) = r.entries.iter().find(|(k, _)| &**k == *name) {
            globals.insert(*name, v.clone());
        }
    }
    globals.insert("builtins", builtins.clone());
    globals.insert("true", Value::Bool(true));
    globals.insert("false", Value::Bool(false));
    globals.insert("null", Value::Null);
    ev.globals = globals;

    // `derivation` is written in Nix on top of `derivationStrict`, as in
    // Nix itself; compile it now that the globals exist.
    let drv = misc::derivation_lambda(ev);
    ev.globals.insert("derivation", drv.clone());
    ev.globals.insert("__derivation", drv.clone());
    let mut entries = r.entries;
    entries.retain(|(k, _)| &**k != "derivation");
    entries.push(("derivation", drv));
    let builtins = Value::attrs(Attrs::from_unsorted(entries));
    *cell.borrow_mut() = Some(builtins.clone());
    ev.globals.insert("builtins", builtins);
}

/// The extension point for crates built on the evaluator (e.g. ox's
/// module system): add `builtins.<name>` (and the global `__<name>`).
/// Call it right after `Eval::new`, before compiling code: compiled code
/// resolves globals when it is compiled.
pub fn add_builtin(ev: &mut Eval, name: &str, v: Value) {
    let name = sym(name);
    let mut entries: Vec<(Sym, Value)> = match ev.globals.get("builtins") {
        Some(Value::Attrs(a)) => a.entries().to_vec(),
        _ => Vec::new(),
    };
    entries.retain(|(k, _)| *k != name);
    entries.push((name, v.clone()));
    let builtins = Value::attrs(Attrs::from_unsorted(entries));
    *ev.builtins_cell.borrow_mut() = Some(builtins.clone());
    ev.globals.insert("builtins", builtins);
    ev.globals.insert(sym(&format!("__{}", name)), v);
}

// ----------------------------------------------------------------------
// Helpers shared by builtin implementations.

pub(crate) fn not_implemented(name: &str, span: Span) -> Result<Value> {
    err(
        ErrorKind::Other,
        format!("builtins.{} is not implemented by ox", name),
        span,
    )
}

/// `v` forced, without first cloning a thunk that is already evaluated
/// (the arguments of builtins mostly are: variables bound to values).
#[inline]
pub(crate) fn forced(ev: &mut Eval, v: &Value) -> Result<Value> {
    match v {
        Value::Thunk(t) => match t.done_ref() {
            Some(x) => Ok(x.clone()),
            None => ev.force_thunk(t),
        },
        x => Ok(x.clone()),
    }
}

pub(crate) fn bool_of(ev: &mut Eval, v: &Value, what: &str, span: Span) -> Result<bool> {
    match forced(ev, v)? {
        Value::Bool(b) => Ok(b),
        o => type_err(
            format!(
                "value is {} while a Boolean was expected ({})",
                o.type_name(),
                what
            ),
            span,
        ),
    }
}

pub(crate) fn context_of(
    r: Result<Value>,
    f: impl FnOnce() -> String,
    span: Span,
) -> Result<Value> {
    r.map_err(|mut e| {
        if e.trace.len() < 64 {
            e.trace.push(crate::error::Frame {
                msg: f(),
                span: Some(span),
            });
        }
        e
    })
}

pub(crate) fn string_arg(
    ev: &mut Eval,
    v: &Value,
    what: &str,
    span: Span,
) -> Result<Rc<NixString>> {
    match forced(ev, v)? {
        Value::Str(s) => Ok(s),
        o => type_err(
            format!(
                "value is {} while a string was expected ({})",
                o.type_name(),
                what
            ),
            span,
        ),
    }
}

pub(crate) fn int_arg(ev: &mut Eval, v: &Value, what: &str, span: Span) -> Result<i64> {
    match forced(ev, v)? {
        Value::Int(i) => Ok(i),
        o => type_err(
            format!(
                "value is {} while an integer was expected ({})",
                o.type_name(),
                what
            ),
            span,
        ),
    }
}

pub(crate) fn list_arg(ev: &mut Eval, v: &Value, what: &str, span: Span) -> Result<Rc<ListVec>> {
    match forced(ev, v)? {
        Value::List(l) => Ok(l),
        o => type_err(
            format!(
                "value is {} while a list was expected ({})",
                o.type_name(),
                what
            ),
            span,
        ),
    }
}

pub(crate) fn attrs_arg(ev: &mut Eval, v: &Value, what: &str, span: Span) -> Result<Rc<Attrs>> {
    match forced(ev, v)? {
        Value::Attrs(a) => Ok(a),
        o => type_err(
            format!(
                "value is {} while a set was expected ({})",
                o.type_name(),
                what
            ),
            span,
        ),
    }
}

pub(crate) fn fn_arg(ev: &mut Eval, v: &Value, what: &str, span: Span) -> Result<Value> {
    let f = forced(ev, v)?;
    if f.is_function() || matches!(&f, Value::Attrs(a) if a.contains("__functor")) {
        Ok(f)
    } else {
        type_err(
            format!(
                "value is {} while a function was expected ({})",
                f.type_name(),
                what
            ),
            span,
        )
    }
}

pub(crate) fn get_attr<'a>(a: &'a Attrs, name: &str, what: &str, span: Span) -> Result<&'a Value> {
    match a.get(name) {
        Some(v) => Ok(v),
        None => Err(EvalError::new(
            ErrorKind::Other,
            format!("attribute '{}' missing ({})", name, what),
            Some(span),
        )),
    }
}

/// Evaluate a small Nix expression in the base scope (used for builtins
/// that are easiest to express in Nix).
pub(crate) fn nix_helper(ev: &mut Eval, src: &str, name: &str) -> Value {
    let e: &'static Expr = match crate::compile::parse_and_compile(
        src.into(),
        format!("«ox:{}»", name),
        "/",
        &ev.globals,
        None,
    ) {
        Ok(e) => e,
        Err(e) => panic!("internal Nix helper {} does not compile: {}", name, e.msg),
    };
    let env = Env::new(Vec::new(), None);
    match ev.eval(e, &env) {
        Ok(v) => v,
        Err(e) => panic!("internal Nix helper {} does not evaluate: {}", name, e.msg),
    }
}
