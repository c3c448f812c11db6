//! `ox build`: evaluate an expression or file, build the derivations it
//! stands for in the local store, link `result` and print the outputs.
//! The work is `ox_build::realise_wanted`; this file is argument parsing
//! and display.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ox_eval::render;
use ox_localstore::{BuildEvent, BuildOptions, Store, StoreConfig};

use crate::eval_cmd::{self, EvalArgs};

#[derive(Args, Debug, Default)]
pub struct BuildArgs {
    /// Build this expression instead of a file.
    #[arg(short = 'E', long = "expr")]
    pub expr: Option<String>,
    /// The file to build (default: ./default.nix).
    pub file: Option<PathBuf>,
    /// Select an attribute path from the result (repeatable).
    #[arg(short = 'A', long = "attr")]
    pub attr: Vec<String>,
    /// Where to put the result symlink (an indirect GC root).
    #[arg(short = 'o', long = "out-link", default_value = "result")]
    pub out_link: PathBuf,
    /// Do not create result symlinks.
    #[arg(long)]
    pub no_out_link: bool,
    /// Rebuild the selected derivations and report outputs that differ.
    #[arg(long)]
    pub check: bool,
    /// How many derivations to build at once (default: number of CPUs).
    #[arg(short = 'j', long = "max-jobs")]
    pub jobs: Option<usize>,
    /// Add a search path entry (`PATH` or `PREFIX=PATH`).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
    /// Pass NAME = EXPR to a function result.
    #[arg(long = "arg", num_args = 2, value_names = ["NAME", "EXPR"], action = clap::ArgAction::Append)]
    pub arg: Vec<String>,
    /// Pass NAME = "STRING" to a function result.
    #[arg(long = "argstr", num_args = 2, value_names = ["NAME", "STRING"], action = clap::ArgAction::Append)]
    pub argstr: Vec<String>,
    /// Allow impure builtins (getEnv, …).
    #[arg(long)]
    pub impure: bool,
    /// Build this host's system toplevel from the hosts file (default
    /// `hosts.nix`; see docs/system.md).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Build every host of the hosts file, in parallel (`<out-link>-<host>`).
    #[arg(long, conflicts_with = "host")]
    pub all: bool,
    /// With `--all`: after building, print a table of what each host
    /// contains (/etc files, units, users, packages, secrets).
    #[arg(long, requires = "all")]
    pub summary: bool,
    /// Build a host's system from a flake, `REF#HOST` (see docs/toplevel.md).
    #[arg(long, value_name = "REF#HOST")]
    pub flake: Option<String>,
    /// Physical root under which the store lives (like `nix --store`);
    /// default `OX_STORE_ROOT` or `/`.
    #[arg(long = "store-root", value_name = "DIR")]
    pub store_root: Option<PathBuf>,
}

/// Opens the store configured by the environment, optionally under `root`.
pub fn open_store(root: Option<&PathBuf>) -> Result<Store, String> {
    let mut cfg = StoreConfig::from_env();
    if let Some(r) = root {
        let state_override = std::env::var_os("OX_STATE_DIR");
        cfg = StoreConfig::with_root(r, &cfg.store_dir);
        if let Some(s) = state_override {
            cfg.state_dir = PathBuf::from(s);
        }
    }
    Store::open(cfg).map_err(|e| format!("error: opening the store: {e}\n"))
}

pub fn run(a: BuildArgs) -> Result<ExitCode, String> {
    if a.host.is_some() || a.all || a.flake.is_some() {
        return crate::host_cmd::build(&a);
    }
    if a.flake.is_some() {
        return Err("error: `ox build --flake REF#HOST` (building a host) is not available in this build yet\n".into());
    }
    let store = open_store(a.store_root.as_ref())?;
    let color = crate::stderr_color();
    let fail = |e: Box<ox_eval::EvalError>| render(&e, color);
    let mut ev = eval_cmd::make_eval(&a.include, a.impure);
    ev.settings.store_dir = store.dir.as_str().to_string();
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".into());
    // A `.drv` store path is built as it is, like `nix-build x.drv`.
    if let (None, Some(f)) = (&a.expr, &a.file) {
        let s = f.to_string_lossy();
        if s.ends_with(".drv") && store.dir.is_store_path(&s) {
            return build_drv_path(&store, &s, &a);
        }
    }
    let v = crate::eval_cmd::eval_source(&mut ev, a.expr.as_deref(), a.file.as_deref(), &cwd)
        .map_err(fail)?;
    let auto = EvalArgs {
        arg: a.arg.clone(),
        argstr: a.argstr.clone(),
        ..EvalArgs::default()
    };
    let v = call_with_auto_args(&mut ev, v, &auto, &cwd).map_err(fail)?;
    let mut wanted = Vec::new();
    let attrs = if a.attr.is_empty() {
        vec![String::new()]
    } else {
        a.attr.clone()
    };
    for path in &attrs {
        let mut x = v.clone();
        if !path.is_empty() {
            x = eval_cmd::select_path(&mut ev, x, path).map_err(fail)?;
        }
        let x = call_with_auto_args(&mut ev, x, &auto, &cwd).map_err(fail)?;
        wanted.extend(ox_build::wanted(&mut ev, x).map_err(|e| build_err(e, color))?);
    }

    // Progress: a bar on a terminal, one line per build otherwise.
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let running: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let short = |drv: &str| -> String {
        let base = drv.rsplit('/').next().unwrap_or(drv);
        base.get(33..)
            .unwrap_or(base)
            .trim_end_matches(".drv")
            .to_string()
    };
    let sink = |e: BuildEvent| match (&bar, e) {
        (Some(b), BuildEvent::Planned { to_build }) => b.set_length(to_build as u64),
        (Some(b), BuildEvent::Started { drv }) => {
            let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
            r.push(short(&drv));
            b.set_message(format!("building {}", r.join(", ")));
        }
        (Some(b), BuildEvent::Finished { drv, .. }) => {
            let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
            let s = short(&drv);
            r.retain(|x| *x != s);
            b.inc(1);
            b.set_message(format!("building {}", r.join(", ")));
        }
        (None, BuildEvent::Started { drv }) => eprintln!("building '{drv}'..."),
        _ => {}
    };
    let mut opts = BuildOptions {
        check: a.check,
        events: Some(&sink),
        ..BuildOptions::default()
    };
    if let Some(j) = a.jobs {
        opts.jobs = j.max(1);
    }
    // Held until the result links exist, so a concurrent `ox store gc`
    // cannot collect the outputs in between.
    let _gc_guard = store.build_lock().map_err(|e| format!("error: {e}\n"))?;
    let r = ox_build::realise_wanted(&store, &ev, &wanted, &opts);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let (realised, outcome) = r.map_err(|e| build_err(e, color))?;

    if !a.no_out_link && !a.check {
        let mut n = 0;
        for r in &realised {
            n += 1;
            let mut link = a.out_link.clone().into_os_string();
            if r.output != "out" {
                link.push(format!("-{}", r.output));
            }
            if n > 1 {
                link.push(format!("-{n}"));
            }
            let sp = store.parse(&r.path).map_err(|e| format!("error: {e}\n"))?;
            store
                .make_result_link(std::path::Path::new(&link), &sp)
                .map_err(|e| format!("error: {e}\n"))?;
        }
    }
    for r in &realised {
        println!("{}", r.path);
    }
    if !outcome.non_reproducible.is_empty() {
        let mut msg = String::new();
        for n in &outcome.non_reproducible {
            msg.push_str(&format!(
                "error: derivation '{}' may not be deterministic: output '{}' ({}) differs: registered {}, rebuilt {}\n",
                n.drv, n.output, n.path, n.registered, n.rebuilt
            ));
        }
        return Err(msg);
    }
    Ok(ExitCode::SUCCESS)
}

fn build_drv_path(store: &Store, drv: &str, a: &BuildArgs) -> Result<ExitCode, String> {
    let e = |e: ox_localstore::StoreError| format!("error: {e}\n");
    let d = store.parse(drv).map_err(e)?;
    let mut opts = BuildOptions {
        check: a.check,
        ..BuildOptions::default()
    };
    if let Some(j) = a.jobs {
        opts.jobs = j.max(1);
    }
    let outcome = store.realise(std::slice::from_ref(&d), &opts).map_err(e)?;
    let mut n = 0;
    for (name, p) in &outcome.outputs[&d] {
        if !a.no_out_link && !a.check {
            n += 1;
            let mut link = a.out_link.clone().into_os_string();
            if name != "out" {
                link.push(format!("-{name}"));
            }
            if n > 1 && name == "out" {
                link.push(format!("-{n}"));
            }
            store
                .make_result_link(std::path::Path::new(&link), p)
                .map_err(e)?;
        }
        println!("{}", store.print(p));
    }
    for n in &outcome.non_reproducible {
        eprintln!(
            "error: derivation '{}' may not be deterministic: output '{}' ({}) differs: registered {}, rebuilt {}",
            n.drv, n.output, n.path, n.registered, n.rebuilt
        );
    }
    Ok(if outcome.non_reproducible.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Like nix-build: a function with formals is called with the `--arg`s
/// (possibly none, so its defaults apply).
fn call_with_auto_args(
    ev: &mut ox_eval::Eval,
    v: ox_eval::Value,
    auto: &EvalArgs,
    cwd: &str,
) -> ox_eval::Result<ox_eval::Value> {
    let v = eval_cmd::apply_auto_args(ev, v, auto, cwd)?;
    match &v {
        ox_eval::Value::Lambda(c) if c.def.formals.is_some() => {
            let empty = ox_eval::Value::attrs(ox_eval::value::Attrs::from_unsorted(Vec::new()));
            let r = ev.call(v.clone(), empty, None)?;
            ev.force(r)
        }
        _ => Ok(v),
    }
}

fn build_err(e: ox_build::BuildError, color: bool) -> String {
    match e {
        ox_build::BuildError::Eval(e) => render(&e, color),
        e => format!("error: {e}\n"),
    }
}
