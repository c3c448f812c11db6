//! `ox build` (hosts → toplevels in the store) and `ox diff` (two
//! toplevels). Evaluation happens here; rendering, store paths and the
//! comparison are `ox-system`'s.
//!
//! A hosts file evaluates to an attribute set of hosts (or has them
//! under `oxConfigurations`, as a flake's outputs do); each host is what
//! `import <ox/modules/eval-host.nix> { modules = …; }` returns.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use ox_eval::{Eval, Value};
use ox_localstore::{PendingPath, Store};
use ox_store::StorePath;

use crate::build_cmd::BuildArgs;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The old toplevel (a store path or a link to one, e.g. `result`).
    pub old: PathBuf,
    /// The new toplevel.
    pub new: PathBuf,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The store directory when no store is opened (`ox option`).
fn default_store_dir() -> String {
    std::env::var("OX_STORE_DIR").unwrap_or_else(|_| ox_system::DEFAULT_STORE_DIR.to_string())
}

pub fn local_host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A Nix string literal.
pub fn nix_str(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_default()
        .replace("${", "\\${")
}

pub struct HostEval {
    ev: Eval,
    file: PathBuf,
    color: bool,
}

impl HostEval {
    pub fn open(
        file: &Path,
        include: &[String],
        store_dir: Option<&str>,
    ) -> Result<HostEval, String> {
        let mut includes = include.to_vec();
        // an explicit ox= entry (e.g. a checkout) wins over the embedded tree
        if !includes.iter().any(|i| i.starts_with("ox=")) {
            if let Some(d) = std::env::var_os("OX_NIX_DIR") {
                includes.push(format!("ox={}", d.to_string_lossy()));
            }
        }
        let mut ev = crate::eval_cmd::make_eval(&includes, false);
        ev.settings.store_dir = store_dir
            .map(str::to_string)
            .unwrap_or_else(default_store_dir);
        let cwd = std::env::current_dir().map_err(|e| format!("error: {e}\n"))?;
        let file = cwd.join(file);
        if !file.exists() {
            return Err(format!(
                "error: the hosts file {} does not exist (use --file)\n",
                file.display()
            ));
        }
        Ok(HostEval {
            ev,
            file,
            color: crate::stderr_color(),
        })
    }

    fn eval(&mut self, expr: &str) -> Result<Value, String> {
        let color = self.color;
        let dir = self
            .file
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        let v = self
            .ev
            .eval_string(expr, "«ox build»", &dir)
            .map_err(|e| ox_eval::render(&e, color))?;
        self.ev.force(v).map_err(|e| ox_eval::render(&e, color))
    }

    pub fn json(&mut self, expr: &str) -> Result<serde_json::Value, String> {
        let v = self.eval(expr)?;
        let color = self.color;
        let span = ox_eval::error::Span {
            file: ox_eval::error::FileId(u32::MAX),
            start: 0,
            end: 0,
        };
        let s = ox_eval::print::to_json(&mut self.ev, v, true, span)
            .map_err(|e| ox_eval::render(&e, color))?;
        serde_json::from_str(&s)
            .map_err(|e| format!("error: internal: bad JSON from the evaluator: {e}\n"))
    }

    fn hosts_expr(&self) -> String {
        format!(
            "(let h = import {}; in h.oxConfigurations or h)",
            nix_str(&self.file.to_string_lossy())
        )
    }

    fn host_names(&mut self) -> Result<Vec<String>, String> {
        let e = format!("builtins.attrNames {}", self.hosts_expr());
        let v = self.json(&e)?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn check_host(&mut self, host: &str) -> Result<(), String> {
        let names = self.host_names()?;
        if names.iter().any(|n| n == host) {
            return Ok(());
        }
        Err(format!(
            "error: host `{host}` is not defined in {} (hosts: {})\n",
            self.file.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    }

    pub fn host_expr(&self, host: &str) -> String {
        format!("{}.${{{}}}", self.hosts_expr(), nix_str(host))
    }
}

/// Evaluates, checks and renders one host, building what its config
/// refers to (`pkgs.writeText …` in a unit, an /etc source) first.
fn render_host(
    he: &mut HostEval,
    host: &str,
    store: &Store,
    mut opts: ox_system::Options,
) -> Result<ox_system::Rendered, String> {
    he.check_host(host)?;
    let base = he.host_expr(host);
    let checks = he.json(&format!("({base}).config.system.build.oxChecks"))?;
    for w in checks["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or_default());
    }
    let failed: Vec<&str> = checks["failedAssertions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .collect();
    if !failed.is_empty() {
        let mut s = format!("error: host `{host}`: failed assertions:\n");
        for m in failed {
            s.push_str(&format!("- {}\n", m.trim_end()));
        }
        return Err(s);
    }
    // toJSON keeps the string context: the store paths the plan refers to
    let v = he.eval(&format!(
        "builtins.toJSON ({base}).config.system.build.oxPlan"
    ))?;
    let Value::Str(s) = &v else {
        return Err("error: internal: toJSON did not return a string\n".into());
    };
    let plan: serde_json::Value = serde_json::from_str(&s.s)
        .map_err(|e| format!("error: internal: bad JSON from the evaluator: {e}\n"))?;
    let has_context = s.ctx.as_ref().is_some_and(|c| !c.is_empty());
    if has_context {
        let color = he.color;
        let realised = ox_build::realise_strings(
            store,
            &mut he.ev,
            std::slice::from_ref(&v),
            &ox_localstore::BuildOptions::default(),
        )
        .map_err(|e| {
            format!(
                "error: host `{host}`: building what its config refers to: {}\n",
                build_error(e, color)
            )
        })?;
        for r in realised {
            opts.references.insert(r.path);
        }
    }
    let r = ox_system::render(&plan, &opts).map_err(|e| format!("error: host `{host}`: {e}\n"))?;
    crate::secrets_check::check(store, &r).map_err(|e| format!("error: host `{host}`: {e}\n"))?;
    Ok(r)
}

fn build_error(e: ox_build::BuildError, color: bool) -> String {
    match e {
        ox_build::BuildError::Eval(e) => ox_eval::render(&e, color),
        other => other.to_string(),
    }
}

/// Puts a rendered host into the store: its extra paths (job scripts,
/// trigger files) first, then the toplevel referring to them.
fn install(store: &Store, r: &ox_system::Rendered) -> Result<StorePath, String> {
    let serr = |e: ox_localstore::StoreError| format!("error: {e}\n");
    let ca = |h: &ox_store::Hash| {
        format!(
            "fixed:r:{}",
            h.to_string_as(ox_store::HashFormat::Base32, true)
        )
    };
    let scratch = store.scratch_dir("host").map_err(serr)?;
    let result = (|| {
        let mut pending = Vec::new();
        for (i, (p, e)) in r.extra.iter().enumerate() {
            let sp = store.parse(p).map_err(serr)?;
            if store.is_valid(&sp).map_err(serr)? {
                continue;
            }
            let tmp = scratch.join(format!("extra-{i}"));
            e.write_to(&tmp)
                .map_err(|e| format!("error: {}: {e}\n", tmp.display()))?;
            pending.push(PendingPath {
                tmp,
                path: sp,
                references: Default::default(),
                deriver: None,
                ca: Some(ca(&e.nar_hash())),
            });
        }
        if !pending.is_empty() {
            store.register(pending).map_err(serr)?;
        }
        let (top, hash) = r
            .toplevel_path_and_hash(store.dir.as_str())
            .map_err(|e| format!("error: {e}\n"))?;
        let top = store.parse(&top).map_err(serr)?;
        if !store.is_valid(&top).map_err(serr)? {
            let tmp = scratch.join("toplevel");
            r.toplevel
                .write_to(&tmp)
                .map_err(|e| format!("error: {}: {e}\n", tmp.display()))?;
            let refs = r
                .extra
                .keys()
                .map(|p| store.parse(p))
                .collect::<Result<_, _>>()
                .map_err(serr)?;
            store
                .register(vec![PendingPath {
                    tmp,
                    path: top.clone(),
                    references: refs,
                    deriver: None,
                    ca: Some(ca(&hash)),
                }])
                .map_err(serr)?;
        }
        Ok(top)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn hosts_file(a: &BuildArgs) -> PathBuf {
    a.file.clone().unwrap_or_else(|| PathBuf::from("hosts.nix"))
}

fn build_one(a: &BuildArgs, host: &str, link: Option<&Path>) -> Result<String, String> {
    let store = crate::build_cmd::open_store(a.store_root.as_ref())?;
    let sd = store.dir.as_str().to_string();
    let mut he = HostEval::open(&hosts_file(a), &a.include, Some(&sd))?;
    let opts = ox_system::Options {
        store_dir: sd,
        ..Default::default()
    };
    eprintln!("building host `{host}`…");
    let started = std::time::Instant::now();
    let r = render_host(&mut he, host, &store, opts)?;
    let top = install(&store, &r)?;
    eprintln!(
        "built host `{host}` in {:.2} s: {} files in the toplevel, {} unit scripts and trigger files",
        started.elapsed().as_secs_f64(),
        r.toplevel.entries.len(),
        r.extra.len()
    );
    if let Some(l) = link {
        store
            .make_result_link(l, &top)
            .map_err(|e| format!("error: {e}\n"))?;
    }
    Ok(store.print(&top))
}

pub fn build(a: &BuildArgs) -> Result<ExitCode, String> {
    if let Some(f) = &a.flake {
        return Err(format!(
            "error: --flake {f}: flakes are not supported yet; use `ox build HOSTS.nix --host NAME`\n"
        ));
    }
    let link = |host: Option<&str>| -> Option<PathBuf> {
        if a.no_out_link {
            return None;
        }
        Some(match host {
            None => a.out_link.clone(),
            Some(h) => {
                let mut s = a.out_link.clone().into_os_string();
                s.push(format!("-{h}"));
                PathBuf::from(s)
            }
        })
    };
    if !a.all {
        let host = a.host.clone().unwrap_or_else(local_host_name);
        let p = build_one(a, &host, link(None).as_deref())?;
        println!("{p}");
        return Ok(ExitCode::SUCCESS);
    }
    // --all: one child process per host (the evaluator is single-threaded),
    // at most as many at once as there are CPUs; a line per finished host
    let hosts = HostEval::open(&hosts_file(a), &a.include, None)?.host_names()?;
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let total = hosts.len();
    let mut queue = hosts.into_iter();
    let mut running: Vec<(String, std::process::Child, std::time::Instant)> = Vec::new();
    let mut failed = Vec::new();
    let mut done = 0;
    loop {
        while running.len() < jobs {
            let Some(h) = queue.next() else { break };
            let mut c = std::process::Command::new(&exe);
            c.arg("build").arg(hosts_file(a)).arg("--host").arg(&h);
            match link(Some(&h)) {
                Some(l) => c.arg("--out-link").arg(l),
                None => c.arg("--no-out-link"),
            };
            if let Some(r) = &a.store_root {
                c.arg("--store-root").arg(r);
            }
            for i in &a.include {
                c.arg("-I").arg(i);
            }
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let child = c.spawn().map_err(|e| format!("error: {e}\n"))?;
            running.push((h, child, std::time::Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        let mut i = 0;
        let mut progressed = false;
        while i < running.len() {
            let finished = running[i]
                .1
                .try_wait()
                .map_err(|e| format!("error: {e}\n"))?
                .is_some();
            if !finished {
                i += 1;
                continue;
            }
            progressed = true;
            let (h, child, started) = running.swap_remove(i);
            let out = child
                .wait_with_output()
                .map_err(|e| format!("error: {e}\n"))?;
            done += 1;
            let secs = started.elapsed().as_secs_f64();
            if out.status.success() {
                let p = String::from_utf8_lossy(&out.stdout);
                eprintln!("[{done}/{total}] {h}: built in {secs:.1} s");
                println!("{h} {}", p.lines().last().unwrap_or_default());
            } else {
                eprintln!("[{done}/{total}] {h}: FAILED after {secs:.1} s");
                // the child's messages, minus its own progress line
                for l in String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .filter(|l| !l.starts_with("building host"))
                {
                    eprintln!("    {l}");
                }
                failed.push(h);
            }
        }
        if !progressed {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        failed.sort();
        Err(format!("error: failed to build: {}\n", failed.join(", ")))
    }
}

pub fn diff(a: DiffArgs) -> Result<ExitCode, String> {
    let d = ox_system::diff::diff(&a.old, &a.new).map_err(|e| format!("error: {e}\n"))?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&d).map_err(|e| format!("error: {e}\n"))?
        );
    } else {
        use std::io::IsTerminal;
        let color = std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
        print!("{}", d.render(color));
    }
    Ok(ExitCode::SUCCESS)
}
