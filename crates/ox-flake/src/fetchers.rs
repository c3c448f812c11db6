//! `builtins.fetchTree`, `builtins.fetchGit` and `builtins.fetchTarball`
//! for flake evaluation, on top of the same fetchers and store as flake
//! inputs. Evaluation is pure, so each call must be pinned: a `narHash`
//! (`sha256` for `fetchTarball`) or, for git, a `rev`. The result is what
//! Nix returns: the source info set (`fetchTree`, `fetchGit`) or the
//! store path (`fetchTarball`).

use std::cell::RefCell;
use std::rc::Rc;

use ox_eval::error::{ErrorKind, Span};
use ox_eval::value::{Attrs, PrimOp, Sym};
use ox_eval::{Eval, EvalError, Value};
use ox_store::{Hash, HashAlgo};

use crate::fetch::Fetcher;
use crate::flakeref::{Attr, Attrs as RefAttrs, FlakeRef};

thread_local! {
    /// The fetcher of the session whose evaluator has these builtins
    /// (primops are plain functions and cannot capture it).
    static FETCHER: RefCell<Option<Rc<RefCell<Fetcher>>>> = const { RefCell::new(None) };
}

fn fail<T>(msg: impl Into<String>, span: Span) -> ox_eval::Result<T> {
    Err(EvalError::new(ErrorKind::Other, msg, Some(span)))
}

/// Install the fetch builtins into `ev`, fetching through `fetcher`.
pub fn install(ev: &mut Eval, fetcher: Rc<RefCell<Fetcher>>) {
    FETCHER.with(|f| *f.borrow_mut() = Some(fetcher));
    let ops: [(&'static str, ox_eval::value::PrimFn); 3] = [
        ("fetchTree", fetch_tree),
        ("fetchGit", fetch_git),
        ("fetchTarball", fetch_tarball),
    ];
    for (name, f) in ops {
        let v = Value::PrimOp(Rc::new(PrimOp { name, arity: 1, f }));
        ev.add_builtin(name, v.clone());
        // Also the bare global (`fetchTarball` without `builtins.`).
        ev.globals.insert(name, v);
    }
}

fn attrs_of(ev: &mut Eval, v: &Value, what: &str, span: Span) -> ox_eval::Result<RefAttrs> {
    let v = ev.force(v.clone())?;
    let Value::Attrs(a) = v else {
        return fail(format!("{} expects an attribute set", what), span);
    };
    let mut out = RefAttrs::new();
    for (k, x) in a.entries() {
        let x = ev.force(x.clone())?;
        let val = match x {
            Value::Str(s) => Attr::Str(s.s.clone()),
            Value::Int(i) if i >= 0 => Attr::Int(i as u64),
            Value::Bool(b) => Attr::Bool(b),
            Value::Path(p) => Attr::Str(p.to_string()),
            o => {
                return fail(
                    format!("{}: attribute '{}' is {}", what, k, o.type_name()),
                    span,
                )
            }
        };
        out.insert(k.to_string(), val);
    }
    Ok(out)
}

fn run(r: FlakeRef, span: Span) -> ox_eval::Result<(FlakeRef, String)> {
    let pinned = r.str("narHash").is_some()
        || (r.kind() == "git" && r.str("rev").is_some())
        || (r.kind() == "github" && r.str("rev").is_some());
    if !pinned {
        return fail(
            format!(
                "in pure evaluation mode, fetching '{}' needs a narHash (or a rev for git and github)",
                r.to_url()
            ),
            span,
        );
    }
    let fetcher = FETCHER.with(|f| f.borrow().clone());
    let Some(fetcher) = fetcher else {
        return fail("fetching is not available in this evaluator", span);
    };
    let f = fetcher
        .borrow_mut()
        .fetch(&r, None)
        .or_else(|e| fail(e.to_string(), span))?;
    Ok((f.locked, f.src.to_string_lossy().into_owned()))
}

fn source_info(locked: &FlakeRef, src: &str) -> Value {
    let mut ctx = std::collections::BTreeSet::new();
    ctx.insert(src.to_string());
    let mut e: Vec<(Sym, Value)> = vec![(
        "outPath",
        Value::str_ctx(src.to_string(), Some(Rc::new(ctx))),
    )];
    if let Some(h) = locked.str("narHash") {
        e.push(("narHash", Value::str(h)));
    }
    if let Some(t) = locked.int("lastModified") {
        e.push(("lastModified", Value::Int(t as i64)));
        e.push(("lastModifiedDate", Value::str(crate::call::date_string(t))));
    }
    if let Some(r) = locked.str("rev") {
        e.push(("rev", Value::str(r)));
        e.push(("shortRev", Value::str(&r[..r.len().min(7)])));
    }
    if let Some(c) = locked.int("revCount") {
        e.push(("revCount", Value::Int(c as i64)));
    }
    Value::attrs(Attrs::from_unsorted(e))
}

fn fetch_tree(ev: &mut Eval, a: &[Value], span: Span) -> ox_eval::Result<Value> {
    let r = match ev.force(a[0].clone())? {
        Value::Str(s) => FlakeRef::parse(&s.s).or_else(|e| fail(e.to_string(), span))?,
        _ => {
            let attrs = attrs_of(ev, &a[0], "builtins.fetchTree", span)?;
            FlakeRef::from_attrs(attrs).or_else(|e| fail(e.to_string(), span))?
        }
    };
    if r.is_relative_path() {
        return fail("builtins.fetchTree: a path must be absolute", span);
    }
    let (locked, src) = run(r, span)?;
    Ok(source_info(&locked, &src))
}

fn fetch_git(ev: &mut Eval, a: &[Value], span: Span) -> ox_eval::Result<Value> {
    let mut attrs = match ev.force(a[0].clone())? {
        Value::Str(s) => {
            let mut m = RefAttrs::new();
            m.insert("url".into(), Attr::Str(s.s.clone()));
            m
        }
        _ => attrs_of(ev, &a[0], "builtins.fetchGit", span)?,
    };
    attrs.remove("name");
    attrs.remove("submodules");
    attrs.remove("shallow");
    attrs.remove("allRefs");
    let url = match attrs.get("url") {
        Some(Attr::Str(u)) if u.starts_with('/') => format!("file://{}", u),
        Some(Attr::Str(u)) => u.clone(),
        _ => return fail("builtins.fetchGit needs 'url'", span),
    };
    attrs.insert("url".into(), Attr::Str(url));
    attrs.insert("type".into(), Attr::Str("git".into()));
    let r = FlakeRef::from_attrs(attrs).or_else(|e| fail(e.to_string(), span))?;
    let (locked, src) = run(r, span)?;
    Ok(source_info(&locked, &src))
}

fn fetch_tarball(ev: &mut Eval, a: &[Value], span: Span) -> ox_eval::Result<Value> {
    let attrs = match ev.force(a[0].clone())? {
        Value::Str(s) => {
            let mut m = RefAttrs::new();
            m.insert("url".into(), Attr::Str(s.s.clone()));
            m
        }
        _ => attrs_of(ev, &a[0], "builtins.fetchTarball", span)?,
    };
    let Some(Attr::Str(url)) = attrs.get("url") else {
        return fail("builtins.fetchTarball needs 'url'", span);
    };
    let mut r = FlakeRef::new("tarball").with("url", url.as_str());
    match attrs.get("sha256") {
        Some(Attr::Str(h)) => {
            let h = Hash::parse(h, Some(HashAlgo::Sha256))
                .or_else(|e| fail(format!("builtins.fetchTarball: sha256: {}", e), span))?;
            r = r.with("narHash", h.to_sri());
        }
        _ => {
            return fail(
                format!(
                    "in pure evaluation mode, builtins.fetchTarball of '{}' needs 'sha256'",
                    url
                ),
                span,
            )
        }
    }
    let (_, src) = run(r, span)?;
    let mut ctx = std::collections::BTreeSet::new();
    ctx.insert(src.clone());
    Ok(Value::str_ctx(src, Some(Rc::new(ctx))))
}
