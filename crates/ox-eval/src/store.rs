//! The evaluator's view of the store: store-path arithmetic for
//! `toFile`, path copying (`"${./x}"`, `builtins.path`, `filterSource`),
//! the hashing builtins and `derivationStrict`, computed exactly as C++
//! Nix computes them (the `tests/lang` cases check it against Nix).
//!
//! Nothing is written here: what would be added to the store is recorded
//! in `Eval::store_writes` and `Eval::drvs` for a builder to realise.
//! The algorithms themselves live in `ox-store`; this module converts
//! between Nix values (with string contexts) and that crate.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use ox_store::{
    Derivation, DerivationError, DerivationSpec, FileIngestionMethod, FixedOutputSpec, Hash,
    HashAlgo, StoreDir, StorePath,
};

use crate::builtins::{attrs_arg, fn_arg, list_arg, string_arg};
use crate::error::{err, ErrorKind, EvalError, Result, Span};
use crate::eval::Eval;
use crate::value::{sym, Attrs, Context, Value};

fn store_dir(ev: &Eval, span: Span) -> Result<StoreDir> {
    StoreDir::new(&ev.settings.store_dir).map_err(|e| {
        EvalError::new(
            ErrorKind::Other,
            format!("invalid store directory: {}", e),
            Some(span),
        )
    })
}

fn other<T>(msg: impl std::fmt::Display, span: Span) -> Result<T> {
    err(ErrorKind::Other, msg.to_string(), span)
}

/// `placeholder`: `/` + nix32(sha256("nix-output:" + output)).
pub fn placeholder(output: &str) -> String {
    ox_store::placeholder(output)
}

/// The store path a source path gets when copied (`"${./x}"`,
/// `builtins.path`, `filterSource`); `filter` is a Nix function
/// `path: type: bool`.
pub fn add_path(
    ev: &mut Eval,
    path: &str,
    name: Option<&str>,
    recursive: bool,
    filter: Option<Value>,
    span: Span,
) -> Result<String> {
    let p = std::path::Path::new(path);
    let name = match name {
        Some(n) => n.to_string(),
        None => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    ev.check_access(path, span)?;
    let key = format!("{}\0{}\0{}", path, name, recursive);
    if filter.is_none() {
        if let Some(sp) = ev.path_cache.get(&key) {
            return Ok(sp.clone());
        }
    }
    if std::fs::symlink_metadata(p).is_err() {
        return other(
            format!("getting status of '{}': No such file or directory", path),
            span,
        );
    }
    let store = store_dir(ev, span)?;
    let method = if recursive {
        FileIngestionMethod::Recursive
    } else {
        FileIngestionMethod::Flat
    };
    let mut excluded = Vec::new();
    let r = ox_store::try_source_path(&store, p, &name, method, HashAlgo::Sha256, |child, kind| {
        let Some(filter) = &filter else {
            return Ok(true);
        };
        let v = ev.call_n(
            filter.clone(),
            vec![
                Value::str(child.to_string_lossy().into_owned()),
                Value::str(kind.as_str()),
            ],
            Some(span),
        )?;
        let keep = ev.expect_bool(&v, span)?;
        if !keep {
            excluded.push(child.to_string_lossy().into_owned());
        }
        Ok(keep)
    });
    let sp = match r {
        Ok(sp) => sp,
        Err(ox_store::SourceError::Filter(e)) => return Err(e),
        Err(e) => return other(format!("while adding '{}' to the store: {}", path, e), span),
    };
    let out = store.print(&sp.path);
    ev.store_writes.insert(
        out.clone(),
        crate::StoreObject::Source {
            name,
            path: path.to_string(),
            recursive,
            excluded,
        },
    );
    if filter.is_none() {
        ev.path_cache.insert(key, out.clone());
    }
    Ok(out)
}

fn ctx_of(path: &str) -> Context {
    let mut s = BTreeSet::new();
    s.insert(path.to_string());
    Some(Rc::new(s))
}

pub fn to_file(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let name = string_arg(ev, &a[0], "the first argument of builtins.toFile", span)?;
    let contents = ev.coerce_to_string(a[1].clone(), span, false, true)?;
    let store = store_dir(ev, span)?;
    let mut refs = BTreeSet::new();
    if let Some(c) = &contents.ctx {
        for e in c.iter() {
            if e.starts_with('=') || e.starts_with('!') {
                return err(
                    ErrorKind::Other,
                    format!(
                        "files created by builtins.toFile may not reference derivations, but {} references {}",
                        name.s,
                        e.trim_start_matches('=')
                    ),
                    span,
                );
            }
            match store.parse(e) {
                Ok(p) => refs.insert(p),
                Err(err) => return other(err, span),
            };
        }
    }
    let path = match store.text_path_for(&name.s, contents.s.as_bytes(), &refs) {
        Ok(p) => store.print(&p),
        Err(e) => return other(e, span),
    };
    ev.store_writes.insert(
        path.clone(),
        crate::StoreObject::Text {
            name: name.s.clone(),
            contents: contents.s.clone(),
            refs: refs.iter().map(|r| store.print(r)).collect(),
        },
    );
    Ok(Value::str_ctx(path.clone(), ctx_of(&path)))
}

pub fn path_builtin(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let args = attrs_arg(ev, &a[0], "the argument of builtins.path", span)?;
    let Some(p) = args.get("path") else {
        return err(
            ErrorKind::Other,
            "attribute 'path' missing in the argument of builtins.path",
            span,
        );
    };
    let (path, _) = ev.coerce_to_path(p.clone(), span)?;
    let name = match args.get("name") {
        Some(n) => Some(
            string_arg(ev, n, "the 'name' attribute of builtins.path", span)?
                .s
                .clone(),
        ),
        None => None,
    };
    let filter = match args.get("filter") {
        Some(f) => Some(fn_arg(
            ev,
            f,
            "the 'filter' attribute of builtins.path",
            span,
        )?),
        None => None,
    };
    let recursive = match args.get("recursive") {
        Some(r) => ev.expect_bool(r, span)?,
        None => true,
    };
    let out = add_path(ev, &path, name.as_deref(), recursive, filter, span)?;
    if let Some(h) = args.get("sha256") {
        let h = string_arg(ev, h, "the 'sha256' attribute of builtins.path", span)?;
        let expected = match Hash::parse(&h.s, Some(HashAlgo::Sha256)) {
            Ok(x) => x,
            Err(e) => return other(e, span),
        };
        let nm = name.clone().unwrap_or_else(|| {
            std::path::Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let store = store_dir(ev, span)?;
        let method = if recursive {
            FileIngestionMethod::Recursive
        } else {
            FileIngestionMethod::Flat
        };
        let want =
            match store.make_fixed_output_path(method, &expected, &nm, &BTreeSet::new(), false) {
                Ok(p) => store.print(&p),
                Err(e) => return other(e, span),
            };
        if want != out {
            return err(
                ErrorKind::Other,
                format!(
                    "hash mismatch in file '{}': expected path '{}', got '{}'",
                    path, want, out
                ),
                span,
            );
        }
    }
    Ok(Value::str_ctx(out.clone(), ctx_of(&out)))
}

pub fn filter_source(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(
        ev,
        &a[0],
        "the first argument of builtins.filterSource",
        span,
    )?;
    let (path, _) = ev.coerce_to_path(a[1].clone(), span)?;
    let out = add_path(ev, &path, None, true, Some(f), span)?;
    Ok(Value::str_ctx(out.clone(), ctx_of(&out)))
}

fn algo_arg(ev: &mut Eval, v: &Value, what: &str, span: Span) -> Result<HashAlgo> {
    let s = string_arg(ev, v, what, span)?;
    match HashAlgo::parse(&s.s) {
        Ok(a) => Ok(a),
        Err(e) => other(e, span),
    }
}

pub fn hash_string(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let algo = algo_arg(ev, &a[0], "the first argument of builtins.hashString", span)?;
    let s = ev.coerce_to_string(a[1].clone(), span, false, false)?;
    Ok(Value::str(Hash::digest(algo, s.s.as_bytes()).to_base16()))
}

pub fn hash_file(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let algo = algo_arg(ev, &a[0], "the first argument of builtins.hashFile", span)?;
    let (p, _) = ev.coerce_to_path(a[1].clone(), span)?;
    match Hash::of_file(algo, std::path::Path::new(&p)) {
        Ok(h) => Ok(Value::str(h.to_base16())),
        Err(e) => other(
            format!("opening file '{}': {}", p, crate::builtins::io_msg(&e)),
            span,
        ),
    }
}

pub fn convert_hash(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let args = attrs_arg(ev, &a[0], "the argument of builtins.convertHash", span)?;
    let get = |n: &str| args.get(n).cloned();
    let Some(h) = get("hash") else {
        return other(
            "attribute 'hash' missing in the argument of builtins.convertHash",
            span,
        );
    };
    let h = string_arg(ev, &h, "the 'hash' attribute of builtins.convertHash", span)?;
    let algo = match get("hashAlgo") {
        Some(x) => Some(string_arg(
            ev,
            &x,
            "the 'hashAlgo' attribute of builtins.convertHash",
            span,
        )?),
        None => None,
    };
    let Some(fmt) = get("toHashFormat") else {
        return other(
            "attribute 'toHashFormat' missing in the argument of builtins.convertHash",
            span,
        );
    };
    let fmt = string_arg(
        ev,
        &fmt,
        "the 'toHashFormat' attribute of builtins.convertHash",
        span,
    )?;
    match ox_store::convert_hash(&h.s, algo.as_ref().map(|a| a.s.as_str()), &fmt.s) {
        Ok(s) => Ok(Value::str(s)),
        Err(e) => other(e, span),
    }
}

// ---------------------------------------------------------------------
// Derivations

/// What the evaluator remembers about each derivation it instantiated.
#[derive(Clone, Debug)]
pub struct DrvRecord {
    /// The `.drv` file's contents.
    pub aterm: String,
    /// References of the `.drv` file (input sources and derivations).
    pub refs: BTreeSet<String>,
    pub outputs: Vec<String>,
}

/// The inputs of a derivation, as its attributes' string contexts give them.
struct Collected {
    input_drvs: BTreeMap<String, BTreeSet<String>>,
    input_srcs: BTreeSet<String>,
    system: String,
    builder: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

fn closure_of(ev: &Eval, drv: &str, acc: &mut BTreeSet<String>) {
    if !acc.insert(drv.to_string()) {
        return;
    }
    if let Some(r) = ev.drvs.get(drv) {
        for x in r.refs.clone() {
            closure_of(ev, &x, acc);
        }
    }
}

pub fn derivation_strict(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let args = attrs_arg(ev, &a[0], "the argument of derivationStrict", span)?;
    let Some(name_v) = args.get("name") else {
        return err(ErrorKind::Other, "required attribute 'name' missing", span);
    };
    let name = string_arg(ev, name_v, "the derivation name", span)?
        .s
        .clone();
    let what = |k: &str| {
        format!(
            "while evaluating the attribute '{}' of derivation '{}'",
            k, name
        )
    };
    let ignore_nulls = match args.get("__ignoreNulls") {
        Some(v) => ev.expect_bool(v, span)?,
        None => false,
    };
    let mut drv = Collected {
        input_drvs: BTreeMap::new(),
        input_srcs: BTreeSet::new(),
        system: String::new(),
        builder: String::new(),
        args: Vec::new(),
        env: BTreeMap::new(),
    };
    let mut ctx: BTreeSet<String> = BTreeSet::new();
    let mut output_names: Vec<String> = vec!["out".into()];
    let (mut out_hash, mut out_algo, mut out_mode) = (None, None, "flat".to_string());
    for (k, v) in args.entries().iter() {
        let key: &str = k;
        if key == "__ignoreNulls" {
            continue;
        }
        let v = ev.force(v.clone()).map_err(|mut e| {
            e.trace.push(crate::error::Frame {
                msg: what(key),
                span: Some(span),
            });
            e
        })?;
        if ignore_nulls && matches!(v, Value::Null) {
            continue;
        }
        if key == "args" {
            let l = list_arg(ev, &v, "the 'args' attribute of a derivation", span)?;
            for x in l.iter() {
                let s = ev.coerce_to_string(x.clone(), span, true, true)?;
                if let Some(c) = &s.ctx {
                    ctx.extend(c.iter().cloned());
                }
                drv.args.push(s.s);
            }
            continue;
        }
        let s = ev
            .coerce_to_string(v.clone(), span, true, true)
            .map_err(|mut e| {
                e.trace.push(crate::error::Frame {
                    msg: what(key),
                    span: Some(span),
                });
                e
            })?;
        if let Some(c) = &s.ctx {
            ctx.extend(c.iter().cloned());
        }
        match key {
            "builder" => drv.builder = s.s.clone(),
            "system" => drv.system = s.s.clone(),
            "outputHash" => out_hash = Some(s.s.clone()),
            "outputHashAlgo" => out_algo = Some(s.s.clone()),
            "outputHashMode" => out_mode = s.s.clone(),
            "outputs" => {
                let l = list_arg(ev, &v, "the 'outputs' attribute of a derivation", span)?;
                let mut names = Vec::new();
                for x in l.iter() {
                    let n = string_arg(ev, x, "an output name", span)?.s.clone();
                    if n == "drv" {
                        return err(
                            ErrorKind::Other,
                            "invalid derivation output name 'drv'",
                            span,
                        );
                    }
                    if names.contains(&n) {
                        return err(
                            ErrorKind::Other,
                            format!("duplicate derivation output '{}'", n),
                            span,
                        );
                    }
                    names.push(n);
                }
                if names.is_empty() {
                    return err(
                        ErrorKind::Other,
                        "derivation cannot have an empty set of outputs",
                        span,
                    );
                }
                output_names = names;
            }
            _ => {}
        }
        drv.env.insert(key.to_string(), s.s);
    }
    if let Err(e) = ox_store::check_name(&name) {
        return err(
            ErrorKind::Other,
            format!("invalid derivation name: {}", e),
            span,
        );
    }
    if !args.contains("builder") {
        return err(
            ErrorKind::Other,
            format!(
                "required attribute 'builder' missing in derivation '{}'",
                name
            ),
            span,
        );
    }
    if !args.contains("system") {
        return err(
            ErrorKind::Other,
            format!(
                "required attribute 'system' missing in derivation '{}'",
                name
            ),
            span,
        );
    }
    // string contexts become inputs
    for c in &ctx {
        if let Some(p) = c.strip_prefix('=') {
            let mut cl = BTreeSet::new();
            closure_of(ev, p, &mut cl);
            for x in cl {
                if let Some(r) = ev.drvs.get(&x) {
                    let outs = r.outputs.clone();
                    drv.input_drvs.entry(x.clone()).or_default().extend(outs);
                }
                drv.input_srcs.insert(x);
            }
        } else if let Some(rest) = c.strip_prefix('!') {
            if let Some((out, p)) = rest.split_once('!') {
                drv.input_drvs
                    .entry(p.to_string())
                    .or_default()
                    .insert(out.to_string());
            }
        } else {
            drv.input_srcs.insert(c.clone());
        }
    }
    let store = store_dir(ev, span)?;
    let parse = |p: &str| store.parse(p);
    let mut spec = DerivationSpec {
        name: name.clone(),
        system: drv.system,
        builder: drv.builder,
        args: drv.args,
        env: drv.env,
        outputs: if args.contains("outputs") {
            output_names.clone()
        } else {
            Vec::new()
        },
        fixed_output: out_hash.map(|hash| FixedOutputSpec {
            hash,
            algo: out_algo,
            mode: Some(out_mode),
        }),
        input_srcs: BTreeSet::new(),
        input_drvs: BTreeMap::new(),
    };
    for p in &drv.input_srcs {
        match parse(p) {
            Ok(sp) => spec.input_srcs.insert(sp),
            Err(e) => return other(e, span),
        };
    }
    for (p, outs) in &drv.input_drvs {
        match parse(p) {
            Ok(sp) => spec.input_drvs.insert(sp, outs.clone()),
            Err(e) => return other(e, span),
        };
    }
    let drvs = &ev.drvs;
    let mut load = |p: &StorePath| -> std::result::Result<Derivation, DerivationError> {
        let printed = store.print(p);
        match drvs.get(&printed) {
            Some(r) => Derivation::parse(&store, &r.aterm),
            None => Err(DerivationError::UnknownInput(printed)),
        }
    };
    let built = match ev.drv_hashes.derivation_strict(&store, spec, &mut load) {
        Ok(b) => b,
        Err(e) => return other(format!("derivation '{}': {}", name, e), span),
    };
    let drv_path = store.print(&built.drv_path);
    let refs = built
        .drv
        .references()
        .iter()
        .map(|p| store.print(p))
        .collect();
    ev.drvs.insert(
        drv_path.clone(),
        DrvRecord {
            aterm: built.aterm.clone(),
            refs,
            outputs: built.outputs.keys().cloned().collect(),
        },
    );
    let mut entries = vec![(
        sym("drvPath"),
        Value::str_ctx(drv_path.clone(), ctx_of(&format!("={}", drv_path))),
    )];
    for (o, p) in &built.outputs {
        entries.push((
            sym(o),
            Value::str_ctx(store.print(p), ctx_of(&format!("!{}!{}", o, drv_path))),
        ));
    }
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

/// Write a derivation's ATerm, for tests and `ox store` later.
pub fn write_aterm(ev: &Eval, drv_path: &str, w: &mut impl std::io::Write) -> std::io::Result<()> {
    if let Some(r) = ev.drvs.get(drv_path) {
        w.write_all(r.aterm.as_bytes())?;
    }
    w.flush()
}
