//! Control, types, arithmetic, files, JSON/TOML/XML and derivations.

use std::path::Path;
use std::rc::Rc;

use super::*;
use crate::compile::BinOp;

pub(super) fn register(r: &mut Registry, _ev: &mut Eval) {
    r.add("import", 1, import);
    r.add("scopedImport", 2, scoped_import);
    r.add("throw", 1, |ev, a, span| {
        let s = ev.coerce_to_string(a[0].clone(), span, false, false)?;
        err(ErrorKind::Throw, s.s, span)
    });
    r.add("abort", 1, |ev, a, span| {
        let s = ev.coerce_to_string(a[0].clone(), span, false, false)?;
        err(
            ErrorKind::Abort,
            format!(
                "evaluation aborted with the following error message: '{}'",
                s.s
            ),
            span,
        )
    });
    r.add("seq", 2, |ev, a, _| {
        forced(ev, &a[0])?;
        forced(ev, &a[1])
    });
    r.add("deepSeq", 2, |ev, a, _| {
        ev.force_deep(a[0].clone())?;
        forced(ev, &a[1])
    });
    r.add("typeOf", 1, |ev, a, _| {
        Ok(Value::str(forced(ev, &a[0])?.type_of()))
    });
    r.add("isInt", 1, |ev, a, _| {
        Ok(Value::Bool(matches!(forced(ev, &a[0])?, Value::Int(_))))
    });
    r.add("isFloat", 1, |ev, a, _| {
        Ok(Value::Bool(matches!(forced(ev, &a[0])?, Value::Float(_))))
    });
    r.add("isBool", 1, |ev, a, _| {
        Ok(Value::Bool(matches!(forced(ev, &a[0])?, Value::Bool(_))))
    });
    r.add("isNull", 1, |ev, a, _| {
        Ok(Value::Bool(matches!(forced(ev, &a[0])?, Value::Null)))
    });
    r.add("isPath", 1, |ev, a, _| {
        Ok(Value::Bool(matches!(forced(ev, &a[0])?, Value::Path(_))))
    });
    r.add("isFunction", 1, |ev, a, _| {
        Ok(Value::Bool(forced(ev, &a[0])?.is_function()))
    });
    r.add("add", 2, |ev, a, span| {
        let x = number(ev, &a[0], "the first argument of builtins.add", span)?;
        let y = number(ev, &a[1], "the second argument of builtins.add", span)?;
        ev.add(x, y, span)
    });
    r.add("sub", 2, |ev, a, span| {
        arith(ev, BinOp::Sub, a, span, "sub")
    });
    r.add("mul", 2, |ev, a, span| {
        arith(ev, BinOp::Mul, a, span, "mul")
    });
    r.add("div", 2, |ev, a, span| {
        arith(ev, BinOp::Div, a, span, "div")
    });
    r.add("lessThan", 2, |ev, a, span| {
        Ok(Value::Bool(ev.less_than(
            a[0].clone(),
            a[1].clone(),
            span,
        )?))
    });
    r.add("bitAnd", 2, |ev, a, span| {
        bits(ev, a, span, "bitAnd", |x, y| x & y)
    });
    r.add("bitOr", 2, |ev, a, span| {
        bits(ev, a, span, "bitOr", |x, y| x | y)
    });
    r.add("bitXor", 2, |ev, a, span| {
        bits(ev, a, span, "bitXor", |x, y| x ^ y)
    });
    r.add("ceil", 1, |ev, a, span| {
        let x = number(ev, &a[0], "the argument of builtins.ceil", span)?;
        Ok(Value::Int(crate::eval::as_f64(&x).ceil() as i64))
    });
    r.add("floor", 1, |ev, a, span| {
        let x = number(ev, &a[0], "the argument of builtins.floor", span)?;
        Ok(Value::Int(crate::eval::as_f64(&x).floor() as i64))
    });
    r.add("tryEval", 1, try_eval);
    r.add("trace", 2, |ev, a, _| {
        let v = forced(ev, &a[0])?;
        let msg = match &v {
            Value::Str(s) => s.s.clone(),
            other => crate::print::print_value(other),
        };
        ev.trace(&format!("trace: {}", msg));
        forced(ev, &a[1])
    });
    r.add("traceVerbose", 2, |ev, a, _| forced(ev, &a[1]));
    r.add("addErrorContext", 2, |ev, a, span| {
        let r = forced(ev, &a[1]);
        match r {
            Ok(v) => Ok(v),
            Err(mut e) => {
                if let Ok(s) = ev.coerce_to_string(a[0].clone(), span, false, false) {
                    e.trace.push(crate::error::Frame {
                        msg: s.s,
                        span: None,
                    });
                }
                Err(e)
            }
        }
    });
    r.add("break", 1, |ev, a, _| forced(ev, &a[0]));
    r.add("toJSON", 1, |ev, a, span| {
        let (s, ctx) = crate::print::to_json_ctx(ev, a[0].clone(), true, span)?;
        let ctx = if ctx.is_empty() {
            None
        } else {
            Some(Rc::new(ctx))
        };
        Ok(Value::str_ctx(s, ctx))
    });
    r.add("fromJSON", 1, from_json);
    r.add("fromTOML", 1, from_toml);
    r.add("readFile", 1, read_file);
    r.add("readDir", 1, read_dir);
    r.add("readFileType", 1, read_file_type);
    r.add("pathExists", 1, |ev, a, span| {
        let (p, _) = ev.coerce_to_path(a[0].clone(), span)?;
        Ok(Value::Bool(Path::new(&p).symlink_metadata().is_ok()))
    });
    r.add("getEnv", 1, |ev, a, span| {
        let s = string_arg(ev, &a[0], "the argument of builtins.getEnv", span)?;
        if ev.settings.pure {
            return Ok(Value::str(""));
        }
        Ok(Value::str(std::env::var(&s.s).unwrap_or_default()))
    });
    r.add("currentTime", 1, |_, _, span| {
        not_implemented("currentTime (impure)", span)
    });
    r.add("toPath", 1, |ev, a, span| {
        let (p, ctx) = ev.coerce_to_path(a[0].clone(), span)?;
        Ok(Value::str_ctx(crate::compile::canon_path(&p), ctx))
    });
    r.add("genericClosure", 1, generic_closure);
    r.add("findFile", 2, find_file);
    r.add("placeholder", 1, |ev, a, span| {
        let s = string_arg(ev, &a[0], "the argument of builtins.placeholder", span)?;
        Ok(Value::str(crate::store::placeholder(&s.s)))
    });
    r.add("toXML", 1, |ev, a, span| {
        let ctx = collect_context(ev, &a[0])?;
        let s = crate::xml::to_xml(ev, a[0].clone(), span)?;
        Ok(Value::str_ctx(s, ctx))
    });
    r.add("toFile", 2, crate::store::to_file);
    r.add("path", 1, crate::store::path_builtin);
    r.add("filterSource", 2, crate::store::filter_source);
    r.add("storePath", 1, |ev, a, span| {
        let (p, _) = ev.coerce_to_path(a[0].clone(), span)?;
        let mut set = std::collections::BTreeSet::new();
        set.insert(p.clone());
        Ok(Value::str_ctx(p, Some(Rc::new(set))))
    });
    r.add("hashString", 2, crate::store::hash_string);
    r.add("hashFile", 2, crate::store::hash_file);
    r.add("convertHash", 1, crate::store::convert_hash);
    r.add("derivationStrict", 1, crate::store::derivation_strict);
    // Builtins that need the network, a binary cache or flakes (later
    // issues): present, so that `builtins ? x` agrees with Nix, but failing
    // with a clear message.
    macro_rules! missing {
        ($($name:literal / $arity:literal),*) => {
            $(r.add($name, $arity, |_, _, span| not_implemented($name, span));)*
        };
    }
    missing!(
        "fetchGit" / 1,
        "fetchMercurial" / 1,
        "fetchTarball" / 1,
        "fetchTree" / 1,
        "fetchurl" / 1,
        "getFlake" / 1,
        "fetchClosure" / 1,
        "flakeRefToString" / 1,
        "parseFlakeRef" / 1,
        "outputOf" / 2
    );
    r.add("warn", 2, |ev, a, span| {
        let s = string_arg(ev, &a[0], "the first argument of builtins.warn", span)?;
        ev.trace(&format!("evaluation warning: {}", s.s));
        forced(ev, &a[1])
    });
    r.add("addDrvOutputDependencies", 1, |ev, a, span| {
        let s = string_arg(
            ev,
            &a[0],
            "the argument of builtins.addDrvOutputDependencies",
            span,
        )?;
        let ctx = s.ctx.as_ref().map(|c| {
            Rc::new(
                c.iter()
                    .map(|e| {
                        if e.ends_with(".drv") && !e.starts_with('=') && !e.starts_with('!') {
                            format!("={}", e)
                        } else {
                            e.clone()
                        }
                    })
                    .collect::<std::collections::BTreeSet<_>>(),
            )
        });
        Ok(Value::str_ctx(s.s.clone(), ctx))
    });
}

fn number(ev: &mut Eval, v: &Value, what: &str, span: Span) -> Result<Value> {
    let v = forced(ev, v)?;
    match v {
        Value::Int(_) | Value::Float(_) => Ok(v),
        o => type_err(
            format!(
                "value is {} while an integer or float was expected ({})",
                o.type_name(),
                what
            ),
            span,
        ),
    }
}

fn arith(ev: &mut Eval, op: BinOp, a: &[Value], span: Span, name: &str) -> Result<Value> {
    let x = forced(ev, &a[0])?;
    let y = forced(ev, &a[1])?;
    // the messages are only built on the error path
    if !matches!(x, Value::Int(_) | Value::Float(_)) {
        number(
            ev,
            &x,
            &format!("the first argument of builtins.{}", name),
            span,
        )?;
    }
    if !matches!(y, Value::Int(_) | Value::Float(_)) {
        number(
            ev,
            &y,
            &format!("the second argument of builtins.{}", name),
            span,
        )?;
    }
    ev.arith(op, x, y, span)
}

fn bits(
    ev: &mut Eval,
    a: &[Value],
    span: Span,
    name: &str,
    f: fn(i64, i64) -> i64,
) -> Result<Value> {
    let x = forced(ev, &a[0])?;
    let y = forced(ev, &a[1])?;
    match (&x, &y) {
        (Value::Int(p), Value::Int(q)) => Ok(Value::Int(f(*p, *q))),
        (Value::Int(_), _) => {
            int_arg(
                ev,
                &y,
                &format!("the second argument of builtins.{}", name),
                span,
            )?;
            unreachable!("int_arg fails on non-integers")
        }
        _ => {
            int_arg(
                ev,
                &x,
                &format!("the first argument of builtins.{}", name),
                span,
            )?;
            unreachable!("int_arg fails on non-integers")
        }
    }
}

fn import(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let v = forced(ev, &a[0])?;
    // importing a derivation's output or a store path string
    let (p, _) = ev.coerce_to_path(v, span)?;
    let r = ev.import_path(Path::new(&p), Some(span))?;
    context_of(ev.force(r), || format!("while importing '{}'", p), span)
}

fn scoped_import(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let scope = attrs_arg(
        ev,
        &a[0],
        "the first argument of builtins.scopedImport",
        span,
    )?;
    let (p, _) = ev.coerce_to_path(a[1].clone(), span)?;
    let mut path = std::path::PathBuf::from(&p);
    if path.is_dir() {
        path.push("default.nix");
    }
    let text = std::fs::read_to_string(&path).map_err(|e| {
        EvalError::new(
            ErrorKind::Other,
            format!(
                "cannot read '{}': {}",
                path.display(),
                crate::builtins::io_msg(&e)
            ),
            Some(span),
        )
    })?;
    let names: Vec<Sym> = scope.entries().iter().map(|(k, _)| *k).collect();
    let values: Vec<Value> = scope.entries().iter().map(|(_, v)| v.clone()).collect();
    let dir = crate::compile::dir_of(&path);
    let e = crate::compile::parse_and_compile(
        text.into(),
        path.to_string_lossy().into_owned(),
        &dir,
        &ev.globals,
        Some(&names),
    )?;
    let env = Env::new(values, None);
    ev.eval(e, &env)
}

fn try_eval(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    match forced(ev, &a[0]) {
        Ok(v) => Ok(Value::attrs(Attrs::from_sorted(vec![
            ("success", Value::Bool(true)),
            ("value", v),
        ]))),
        Err(e) if e.is_catchable() => Ok(Value::attrs(Attrs::from_sorted(vec![
            ("success", Value::Bool(false)),
            ("value", Value::Bool(false)),
        ]))),
        Err(e) => Err(e),
    }
}

/// The union of the string contexts anywhere inside a value (for
/// `toJSON`/`toXML`, whose results carry their inputs' contexts).
fn collect_context(ev: &mut Eval, v: &Value) -> Result<Context> {
    fn go(
        ev: &mut Eval,
        v: &Value,
        acc: &mut std::collections::BTreeSet<String>,
        seen: &mut std::collections::HashSet<usize>,
    ) -> Result<()> {
        let v = forced(ev, v)?;
        let id = match &v {
            Value::List(l) => Rc::as_ptr(l) as *const u8 as usize,
            Value::Attrs(a) => Rc::as_ptr(a) as *const u8 as usize,
            _ => 0,
        };
        if id != 0 && !seen.insert(id) {
            return Ok(());
        }
        match &v {
            Value::Str(s) => {
                if let Some(c) = &s.ctx {
                    acc.extend(c.iter().cloned())
                }
            }
            Value::List(l) => {
                for x in l.iter() {
                    go(ev, x, acc, seen)?
                }
            }
            Value::Attrs(a) => {
                for (_, x) in a.entries().iter() {
                    go(ev, x, acc, seen)?
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut acc = std::collections::BTreeSet::new();
    // Errors are reported by the serializer itself with better context.
    if go(ev, v, &mut acc, &mut std::collections::HashSet::new()).is_err() {
        return Ok(None);
    }
    Ok(if acc.is_empty() {
        None
    } else {
        Some(Rc::new(acc))
    })
}

pub(crate) fn json_to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if n.as_f64() == Some(0.0) {
                // `-0` is an integer in Nix's JSON parser
                Value::Int(0)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::str(s.clone()),
        serde_json::Value::Array(a) => Value::list(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::attrs(Attrs::from_unsorted(
            o.iter().map(|(k, v)| (sym(k), json_to_value(v))).collect(),
        )),
    }
}

fn from_json(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = ev.coerce_to_string(a[0].clone(), span, false, false)?;
    match serde_json::from_str::<serde_json::Value>(&s.s) {
        Ok(j) => Ok(json_to_value(&j)),
        Err(e) => err(
            ErrorKind::Other,
            format!("while decoding a JSON string: {}", e),
            span,
        ),
    }
}

fn toml_to_value(t: &toml::Value) -> Value {
    match t {
        toml::Value::String(s) => Value::str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::str(d.to_string()),
        toml::Value::Array(a) => Value::list(a.iter().map(toml_to_value).collect()),
        toml::Value::Table(t) => Value::attrs(Attrs::from_unsorted(
            t.iter().map(|(k, v)| (sym(k), toml_to_value(v))).collect(),
        )),
    }
}

fn from_toml(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = ev.coerce_to_string(a[0].clone(), span, false, false)?;
    match s.s.parse::<toml::Table>() {
        Ok(t) => Ok(toml_to_value(&toml::Value::Table(t))),
        Err(e) => err(
            ErrorKind::Other,
            format!("while parsing a TOML string: {}", e.message()),
            span,
        ),
    }
}

fn read_file(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let (p, ctx) = ev.coerce_to_path(a[0].clone(), span)?;
    match std::fs::read(&p) {
        Ok(b) => Ok(Value::str_ctx(
            String::from_utf8_lossy(&b).into_owned(),
            ctx,
        )),
        Err(e) => err(
            ErrorKind::Other,
            format!("opening file '{}': {}", p, io_msg(&e)),
            span,
        ),
    }
}

pub(crate) fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

fn file_type_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "regular"
    } else {
        "unknown"
    }
}

fn read_dir(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let (p, _) = ev.coerce_to_path(a[0].clone(), span)?;
    let rd = std::fs::read_dir(&p).map_err(|e| {
        EvalError::new(
            ErrorKind::Other,
            format!("opening directory '{}': {}", p, io_msg(&e)),
            Some(span),
        )
    })?;
    let mut entries = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| {
            EvalError::new(
                ErrorKind::Other,
                format!("reading directory '{}': {}", p, e),
                Some(span),
            )
        })?;
        let name = ent.file_name().to_string_lossy().into_owned();
        let ft = ent.file_type().map(file_type_name).unwrap_or("unknown");
        entries.push((sym(&name), Value::str(ft)));
    }
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

fn read_file_type(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let (p, _) = ev.coerce_to_path(a[0].clone(), span)?;
    match std::fs::symlink_metadata(&p) {
        Ok(m) => Ok(Value::str(file_type_name(m.file_type()))),
        Err(e) => err(
            ErrorKind::Other,
            format!("getting status of '{}': {}", p, io_msg(&e)),
            span,
        ),
    }
}

fn generic_closure(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let args = attrs_arg(ev, &a[0], "the argument of builtins.genericClosure", span)?;
    let start = get_attr(
        &args,
        "startSet",
        "in the attribute set passed to builtins.genericClosure",
        span,
    )?;
    let start = list_arg(
        ev,
        start,
        "the 'startSet' attribute of builtins.genericClosure",
        span,
    )?;
    let op = get_attr(
        &args,
        "operator",
        "in the attribute set passed to builtins.genericClosure",
        span,
    )?;
    let op = fn_arg(
        ev,
        op,
        "the 'operator' attribute of builtins.genericClosure",
        span,
    )?;
    let mut work: std::collections::VecDeque<Value> = start.iter().cloned().collect();
    let mut done: Vec<Value> = Vec::new();
    let mut seen: Vec<Value> = Vec::new();
    while let Some(e) = work.pop_front() {
        let ea = attrs_arg(ev, &e, "an element of the genericClosure work list", span)?;
        let key = get_attr(&ea, "key", "in an element of builtins.genericClosure", span)?.clone();
        let key = ev.force(key)?;
        let mut dup = false;
        for s in &seen {
            if ev.equal(s.clone(), key.clone(), span)? {
                dup = true;
                break;
            }
        }
        if dup {
            continue;
        }
        seen.push(key);
        done.push(e.clone());
        let more = ev.call(op.clone(), e, Some(span))?;
        let more = list_arg(
            ev,
            &more,
            "the return value of the genericClosure operator",
            span,
        )?;
        work.extend(more.iter().cloned());
    }
    Ok(Value::list(done))
}

fn find_file(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let sp = list_arg(ev, &a[0], "the first argument of builtins.findFile", span)?;
    let name = string_arg(ev, &a[1], "the second argument of builtins.findFile", span)?;
    for e in sp.iter() {
        let e = attrs_arg(ev, e, "an element of the search path", span)?;
        let prefix = match e.get("prefix") {
            Some(p) => string_arg(ev, p, "the 'prefix' of a search path entry", span)?
                .s
                .clone(),
            None => String::new(),
        };
        let path = get_attr(&e, "path", "in a search path entry", span)?;
        let path = ev.coerce_to_string(path.clone(), span, false, false)?.s;
        let rest = if prefix.is_empty() {
            Some(name.s.as_str())
        } else if name.s == prefix {
            Some("")
        } else {
            name.s
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_prefix('/'))
        };
        if let Some(rest) = rest {
            let full = if rest.is_empty() {
                path.clone()
            } else {
                format!("{}/{}", path, rest)
            };
            if Path::new(&full).exists() {
                return Ok(Value::Path(crate::compile::canon_path(&full).into()));
            }
        }
    }
    err(
        ErrorKind::Other,
        format!(
            "file '{}' was not found in the Nix search path (add it using $NIX_PATH or -I)",
            name.s
        ),
        span,
    )
}

/// `derivation`, written in Nix over `derivationStrict` like Nix's own:
/// the result is the first output's attribute set, with every output
/// reachable by name and through `all`.
pub(super) fn derivation_lambda(ev: &mut Eval) -> Value {
    let src = r#"
args @ { outputs ? [ "out" ], ... }:
let
  built = builtins.derivationStrict args;
  shared = args // builtins.listToAttrs outputAttrs // {
    all = builtins.map (o: o.value) outputAttrs;
    drvAttrs = args;
  };
  outputAttr = outputName: {
    name = outputName;
    value = shared // {
      outPath = builtins.getAttr outputName built;
      drvPath = built.drvPath;
      type = "derivation";
      inherit outputName;
    };
  };
  outputAttrs = builtins.map outputAttr outputs;
in (builtins.head outputAttrs).value
"#;
    nix_helper(ev, src, "derivation")
}
