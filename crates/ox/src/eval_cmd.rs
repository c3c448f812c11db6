//! `ox eval`: mirrors `nix-instantiate --eval` so the two can be diffed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use ox_eval::{render, Eval, Settings, Value};

#[derive(Args, Debug, Default)]
pub struct EvalArgs {
    /// Evaluate this expression instead of a file.
    #[arg(short = 'E', long = "expr")]
    pub expr: Option<String>,
    /// The file to evaluate (default: ./default.nix).
    pub file: Option<PathBuf>,
    /// Evaluate deeply before printing.
    #[arg(long)]
    pub strict: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Pass NAME = EXPR to a function result.
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"], action = clap::ArgAction::Append)]
    pub arg: Vec<String>,
    /// Pass NAME = "STRING" to a function result.
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "STRING"], action = clap::ArgAction::Append)]
    pub argstr: Vec<String>,
    /// Select an attribute path from the result.
    #[arg(short = 'A', long = "attr")]
    pub attr: Vec<String>,
    /// Add a search path entry (`PATH` or `PREFIX=PATH`).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
    /// Allow impure builtins (getEnv, …).
    #[arg(long)]
    pub impure: bool,
    /// Evaluate an output of a flake: `--flake DIR#ATTR.PATH` (with
    /// `-E FN`, print FN applied to it).
    #[arg(long)]
    pub flake: Option<String>,
    /// Store directory for flake sources (with --flake).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Accepted for compatibility with nix-instantiate (always on).
    #[arg(long, hide = true)]
    pub eval: bool,
}

pub fn search_path(includes: &[String]) -> Vec<(String, String)> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    // relative entries are relative to the working directory
    let abs = |p: &str| -> String {
        if p.starts_with('/') || p.contains("://") {
            p.to_string()
        } else {
            cwd.join(p).to_string_lossy().into_owned()
        }
    };
    let mut out = Vec::new();
    let mut add = |entry: &str| {
        if entry.is_empty() {
            return;
        }
        match entry.split_once('=') {
            Some((p, path)) => out.push((p.to_string(), abs(path))),
            None => out.push((String::new(), abs(entry))),
        }
    };
    for i in includes {
        add(i);
    }
    if let Ok(np) = std::env::var("NIX_PATH") {
        for e in np.split(':') {
            add(e);
        }
    }
    out
}

/// An evaluator as every ox command uses it: `-I`/`NIX_PATH` entries,
/// then `<ox>` (ox's embedded `nix/` tree), and `builtins.ox` (the native
/// half of `lib`).
pub fn make_eval(includes: &[String], impure: bool) -> Eval {
    let mut ev = Eval::new(ox_modules::settings_with_ox(Settings {
        pure: !impure,
        search_path: search_path(includes),
        ..Settings::default()
    }));
    ox_modules::install(&mut ev);
    ev
}

pub fn run(a: EvalArgs) -> Result<ExitCode, String> {
    if let Some(f) = &a.flake {
        let common = crate::flake_cmd::Common {
            include: a.include.clone(),
            store: a.store.clone(),
        };
        return crate::flake_cmd::eval_flake(f, &common, a.json, a.strict, a.expr.as_deref());
    }
    let mut ev = make_eval(&a.include, a.impure);
    let color = crate::stderr_color();
    let fail = |e: Box<ox_eval::EvalError>| render(&e, color);
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".into());
    let v = eval_source(&mut ev, a.expr.as_deref(), a.file.as_deref(), &cwd).map_err(fail)?;
    let v = apply_auto_args(&mut ev, v, &a, &cwd).map_err(fail)?;
    let attrs: Vec<String> = if a.attr.is_empty() {
        vec![String::new()]
    } else {
        a.attr.clone()
    };
    // Each result as it was rendered (not copied into one string: a
    // 1000-host fleet's JSON is 5 MB), printed once all succeeded.
    let mut out: Vec<String> = Vec::new();
    let single = attrs.len() == 1;
    // JSON printing errors belong to no source location.
    let span = ox_eval::error::Span {
        file: ox_eval::error::FileId(u32::MAX),
        start: 0,
        end: 0,
    };
    for path in attrs {
        let mut x = v.clone();
        if !path.is_empty() {
            x = select_path(&mut ev, x, &path).map_err(fail)?;
        }
        x = ev.force(x).map_err(fail)?;
        let x = apply_auto_args(&mut ev, x, &a, &cwd).map_err(fail)?;
        if a.strict {
            ev.force_deep(x.clone()).map_err(fail)?;
        }
        if a.json && a.strict && single {
            // One result: stream it (a fleet's JSON is megabytes).
            let mut stdout = std::io::stdout().lock();
            let mut failed: Option<std::io::Error> = None;
            let mut sink = |piece: &str| {
                if failed.is_none() {
                    if let Err(e) = std::io::Write::write_all(&mut stdout, piece.as_bytes()) {
                        failed = Some(e);
                    }
                }
            };
            ox_eval::print::write_json(&mut ev, x, span, &mut sink).map_err(fail)?;
            if let Some(e) = failed {
                return Err(format!("writing the result: {e}"));
            }
            continue;
        }
        let mut s = if a.json {
            if a.strict {
                ox_eval::print::to_json(&mut ev, x, false, span).map_err(fail)?
            } else {
                ox_eval::print::to_json_lazy(&mut ev, x, span).map_err(fail)?
            }
        } else {
            ox_eval::print::print_value(&x)
        };
        // nix-instantiate ends JSON output without a newline
        if !a.json {
            s.push('\n');
        }
        out.push(s);
    }
    let mut stdout = std::io::stdout().lock();
    for s in &out {
        std::io::Write::write_all(&mut stdout, s.as_bytes())
            .map_err(|e| format!("writing the result: {e}"))?;
    }
    // The process ends right after this: freeing the evaluator and the
    // result value by value (cold memory by now, ~1 % of a 1000-host
    // evaluation's instructions) would only cost time.
    std::mem::forget(v);
    std::mem::forget(ev);
    Ok(ExitCode::SUCCESS)
}

/// Like Nix's auto-args: a function result is called with `--arg`s.
/// The expression `-E EXPR`, or else the file (default `default.nix`,
/// relative to `cwd`; a directory means its `default.nix`), evaluated
/// as `nix-instantiate` and `nix-build` take their input.
pub(crate) fn eval_source(
    ev: &mut Eval,
    expr: Option<&str>,
    file: Option<&Path>,
    cwd: &str,
) -> Result<Value, Box<ox_eval::EvalError>> {
    match expr {
        Some(e) => ev.eval_string(e, "«string»", cwd),
        None => {
            let f = file.unwrap_or(Path::new("default.nix"));
            let f = Path::new(cwd).join(f);
            let f = if f.is_dir() { f.join("default.nix") } else { f };
            ev.eval_file(&f)
        }
    }
}

pub(crate) fn apply_auto_args(
    ev: &mut Eval,
    v: Value,
    a: &EvalArgs,
    cwd: &str,
) -> ox_eval::Result<Value> {
    let v = ev.force(v)?;
    let is_fn = matches!(v, Value::Lambda(_));
    // nix-instantiate only auto-calls when arguments were given
    if !is_fn || (a.arg.is_empty() && a.argstr.is_empty()) {
        return Ok(v);
    }
    let mut entries: Vec<(ox_eval::value::Sym, Value)> = Vec::new();
    for pair in a.arg.chunks(2) {
        if let [name, expr] = pair {
            let val = ev.eval_string(expr, "«string»", cwd)?;
            entries.push((ox_eval::value::sym(name), val));
        }
    }
    for pair in a.argstr.chunks(2) {
        if let [name, s] = pair {
            entries.push((ox_eval::value::sym(name), Value::str(s.clone())));
        }
    }
    // Only functions with formals receive auto-args (as in Nix).
    if let Value::Lambda(c) = &v {
        if c.def.formals.is_none() {
            return Ok(v);
        }
    }
    let args = Value::attrs(ox_eval::value::Attrs::from_unsorted(entries));
    let r = ev.call(v, args, None)?;
    ev.force(r)
}

pub(crate) fn select_path(ev: &mut Eval, v: Value, path: &str) -> ox_eval::Result<Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = ev.force(cur)?;
        match &cur {
            Value::Attrs(a) => match a.get(part) {
                Some(x) => cur = x.clone(),
                None => {
                    return Err(ox_eval::EvalError::new(
                        ox_eval::error::ErrorKind::Other,
                        format!(
                            "attribute '{}' in selection path '{}' not found",
                            part, path
                        ),
                        None,
                    ))
                }
            },
            Value::List(l) => match part.parse::<usize>().ok().and_then(|i| l.get(i)) {
                Some(x) => cur = x.clone(),
                None => {
                    return Err(ox_eval::EvalError::new(
                        ox_eval::error::ErrorKind::Other,
                        format!(
                            "list index '{}' in selection path '{}' is out of range",
                            part, path
                        ),
                        None,
                    ))
                }
            },
            other => {
                return Err(ox_eval::EvalError::new(
                    ox_eval::error::ErrorKind::Type,
                    format!(
                    "the expression selected by the selection path '{}' should be a set but is {}",
                    path,
                    other.type_name()
                ),
                    None,
                ))
            }
        }
    }
    Ok(cur)
}
