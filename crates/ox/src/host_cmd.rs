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
    src: EvSource,
    /// The attribute set of hosts (a hosts file's value, or a flake's
    /// `oxConfigurations`).
    hosts: Value,
    /// Where the hosts come from, for messages.
    origin: String,
    pub color: bool,
}

enum EvSource {
    Plain(Box<Eval>),
    Flake(Box<ox_flake::Session>),
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
                "error: the hosts file {} does not exist\n",
                file.display()
            ));
        }
        let color = crate::stderr_color();
        let dir = file
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        let expr = format!(
            "let h = import {}; in h.oxConfigurations or h",
            nix_str(&file.to_string_lossy())
        );
        let hosts = ev
            .eval_string(&expr, "«hosts»", &dir)
            .and_then(|v| ev.force(v))
            .map_err(|e| ox_eval::render(&e, color))?;
        Ok(HostEval {
            src: EvSource::Plain(Box::new(ev)),
            hosts,
            origin: file.display().to_string(),
            color,
        })
    }

    /// `REF#HOST`: the flake's `oxConfigurations`, and the host named
    /// after `#` (if any).
    pub fn open_flake(
        target: &str,
        include: &[String],
    ) -> Result<(HostEval, Option<String>), String> {
        let (r, host) = match target.split_once('#') {
            Some((r, h)) if !h.is_empty() => (r.to_string(), Some(h.to_string())),
            Some((r, _)) => (r.to_string(), None),
            None => (target.to_string(), None),
        };
        let r = if r.is_empty() { ".".to_string() } else { r };
        let common = crate::flake_cmd::Common {
            include: include.to_vec(),
            ..Default::default()
        };
        let mut s = crate::flake_cmd::session(&common)?;
        let fail = |e: ox_flake::Error| format!("error: {e}\n");
        let dir = std::env::current_dir()
            .map_err(|e| format!("error: {e}\n"))?
            .join(&r);
        let f = ox_flake::lock_flake(&mut s, &dir, &[], false, ox_flake::LockMode::Write)
            .map_err(fail)?;
        let v = ox_flake::flake_value(&mut s, &f).map_err(fail)?;
        let hosts = ox_flake::select(&mut s, v, &["oxConfigurations"]).map_err(fail)?;
        let color = crate::stderr_color();
        let hosts = s.ev.force(hosts).map_err(|e| ox_eval::render(&e, color))?;
        Ok((
            HostEval {
                src: EvSource::Flake(Box::new(s)),
                hosts,
                origin: format!("the oxConfigurations of flake {r}"),
                color,
            },
            host,
        ))
    }

    pub fn ev(&mut self) -> &mut Eval {
        match &mut self.src {
            EvSource::Plain(e) => e,
            EvSource::Flake(s) => &mut s.ev,
        }
    }

    pub fn host_names(&mut self) -> Result<Vec<String>, String> {
        match &self.hosts {
            Value::Attrs(a) => Ok(a.entries().iter().map(|(k, _)| k.to_string()).collect()),
            other => Err(format!(
                "error: {} is {}, expected an attribute set of hosts\n",
                self.origin,
                other.type_name()
            )),
        }
    }

    pub fn check_host(&mut self, host: &str) -> Result<(), String> {
        let names = self.host_names()?;
        if names.iter().any(|n| n == host) {
            return Ok(());
        }
        Err(format!(
            "error: host `{host}` is not defined in {} (hosts: {})\n",
            self.origin,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    }

    /// `(FEXPR) host`, forced: FEXPR is a Nix function of the host.
    pub fn apply(&mut self, host: &str, fexpr: &str) -> Result<Value, String> {
        let color = self.color;
        let hv = match &self.hosts {
            Value::Attrs(a) => a.get(host).cloned(),
            _ => None,
        }
        .ok_or_else(|| format!("error: host `{host}` is not defined in {}\n", self.origin))?;
        let ev = self.ev();
        let r = (|| {
            let f = ev.eval_string(fexpr, "«ox»", "/")?;
            let v = ev.call(f, hv, None)?;
            ev.force(v)
        })();
        r.map_err(|e| ox_eval::render(&e, color))
    }

    /// [`HostEval::apply`] as JSON (strings with context allowed).
    pub fn apply_json(&mut self, host: &str, fexpr: &str) -> Result<serde_json::Value, String> {
        let v = self.apply(host, fexpr)?;
        let color = self.color;
        let span = ox_eval::error::Span {
            file: ox_eval::error::FileId(u32::MAX),
            start: 0,
            end: 0,
        };
        let s = ox_eval::print::to_json(self.ev(), v, true, span)
            .map_err(|e| ox_eval::render(&e, color))?;
        serde_json::from_str(&s)
            .map_err(|e| format!("error: internal: bad JSON from the evaluator: {e}\n"))
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
    let shape = he.apply_json(
        host,
        "h: builtins.isAttrs h && h ? config && h ? options && h.config ? system",
    )?;
    if shape != serde_json::Value::Bool(true) {
        return Err(format!(
            "error: host `{host}` in {} is not an evaluated host: expected what \
             `import <ox/modules/eval-host.nix> {{ modules = [ … ]; }}` (or `ox.lib.oxSystem`) returns\n",
            he.origin
        ));
    }
    let checks = he.apply_json(host, "h: h.config.system.build.oxChecks")?;
    for w in checks["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or_default());
    }
    fail_on_assertions(host, &checks["failedAssertions"])?;
    // toJSON keeps the string context: the store paths the plan refers to
    let v = he.apply(host, "h: builtins.toJSON h.config.system.build.oxPlan")?;
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
            he.ev(),
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
        // parallel builds (`ox deploy`, `ox build --all`) share unit
        // scripts: one process at a time checks and registers each path
        // (locked in the BTreeMap's order, the same in every process)
        let mut _locks = Vec::new();
        for (i, (p, e)) in r.extra.iter().enumerate() {
            let sp = store.parse(p).map_err(serr)?;
            _locks.push(store.lock_path(&sp).map_err(serr)?);
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
        let _top_lock = store.lock_path(&top).map_err(serr)?;
        if !store.is_valid(&top).map_err(serr)? {
            let tmp = scratch.join("toplevel");
            r.toplevel
                .write_to(&tmp)
                .map_err(|e| format!("error: {}: {e}\n", tmp.display()))?;
            // every path the toplevel's hash was computed with: its own
            // unit scripts and the built paths the config refers to
            // (`pkgs.writeText …`), so its closure is complete (copies,
            // GC)
            let refs = r
                .manifest
                .references
                .iter()
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

/// The hosts of `--flake REF[#HOST]` or of the hosts file, and the host
/// the flake reference names.
fn open_hosts(
    a: &BuildArgs,
    store_dir: Option<&str>,
) -> Result<(HostEval, Option<String>), String> {
    match &a.flake {
        Some(f) => HostEval::open_flake(f, &a.include),
        None => Ok((HostEval::open(&hosts_file(a), &a.include, store_dir)?, None)),
    }
}

fn build_one(a: &BuildArgs, host: &str, link: Option<&Path>) -> Result<String, String> {
    let store = crate::build_cmd::open_store(a.store_root.as_ref())?;
    let sd = store.dir.as_str().to_string();
    let (mut he, _) = open_hosts(a, Some(&sd))?;
    let opts = ox_system::Options {
        store_dir: sd,
        store_root: store.config.root.clone(),
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
    let flake_host = a
        .flake
        .as_deref()
        .and_then(|f| f.split_once('#'))
        .map(|(_, h)| h.to_string())
        .filter(|h| !h.is_empty());
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
        let host = a
            .host
            .clone()
            .or(flake_host)
            .unwrap_or_else(local_host_name);
        let p = build_one(a, &host, link(None).as_deref())?;
        println!("{p}");
        return Ok(ExitCode::SUCCESS);
    }
    // --all: one child process per host (the evaluator is single-threaded),
    // at most as many at once as there are CPUs; a line per finished host
    let hosts = open_hosts(a, None)?.0.host_names()?;
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let total = hosts.len();
    let mut queue = hosts.into_iter();
    let mut running: Vec<(String, std::process::Child, std::time::Instant)> = Vec::new();
    let mut failed = Vec::new();
    let mut built: Vec<(String, String)> = Vec::new();
    let mut done = 0;
    loop {
        while running.len() < jobs {
            let Some(h) = queue.next() else { break };
            let mut c = std::process::Command::new(&exe);
            match &a.flake {
                Some(f) => {
                    let r = f.split_once('#').map_or(f.as_str(), |(r, _)| r);
                    c.arg("build").arg("--flake").arg(format!("{r}#{h}"))
                }
                None => c.arg("build").arg(hosts_file(a)).arg("--host").arg(&h),
            };
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
                let top = p.lines().last().unwrap_or_default().to_string();
                println!("{h} {top}");
                built.push((h, top));
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
    if a.summary {
        built.sort();
        let store = crate::build_cmd::open_store(a.store_root.as_ref())?;
        print!("{}", summary_table(&store, &built)?);
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        failed.sort();
        Err(format!("error: failed to build: {}\n", failed.join(", ")))
    }
}

/// One row per built host: what its toplevel holds, read back from the
/// toplevel's own `activation.json` (so it shows what was built, not
/// what the config meant to build).
fn summary_table(store: &Store, built: &[(String, String)]) -> Result<String, String> {
    let mut rows = vec![[
        "host".to_string(),
        "etc files".into(),
        "units".into(),
        "users".into(),
        "packages".into(),
        "home files".into(),
        "secrets".into(),
    ]];
    for (host, top) in built {
        let real = store
            .real_path_of_str(top)
            .unwrap_or_else(|| PathBuf::from(top));
        let file = real.join("activation.json");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("error: {}: {e}\n", file.display()))?;
        let plan: ox_system::Plan =
            serde_json::from_str(&text).map_err(|e| format!("error: {}: {e}\n", file.display()))?;
        let is_unit = |t: &str| {
            t.starts_with("systemd/system/") && !t["systemd/system/".len()..].contains('/')
        };
        let units = plan.etc.iter().filter(|e| is_unit(&e.target)).count();
        let users: Vec<&str> = plan
            .users
            .iter()
            .filter(|u| u.is_normal_user)
            .map(|u| u.name.as_str())
            .collect();
        let sys_users = plan.users.len() - users.len();
        let home_files: usize = plan.home.iter().map(|h| h.files.len()).sum();
        let secrets = plan.secrets.0.as_ref().map_or(0, |m| m.secrets.len());
        rows.push([
            host.clone(),
            (plan.etc.len() - units).to_string(),
            units.to_string(),
            if sys_users > 0 {
                format!("{} (+{sys_users} system)", users.join(","))
            } else {
                users.join(",")
            },
            plan.packages.len().to_string(),
            home_files.to_string(),
            secrets.to_string(),
        ]);
    }
    Ok(columns(&rows))
}

/// Rows as left-aligned columns two spaces apart, after an empty line
/// (the summary tables of `ox build --all --summary` and `ox deploy`).
pub fn columns<R: AsRef<[String]>>(rows: &[R]) -> String {
    let mut width: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.as_ref().iter().enumerate() {
            if width.len() <= i {
                width.push(0);
            }
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::from("\n");
    for r in rows {
        let line: Vec<String> = r
            .as_ref()
            .iter()
            .zip(&width)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
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

/// An error listing the messages of `failed` (a JSON list of strings:
/// a host's assertions that do not hold), or Ok where there are none.
pub(crate) fn fail_on_assertions(host: &str, failed: &serde_json::Value) -> Result<(), String> {
    let failed: Vec<&str> = failed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let mut s = format!("error: host `{host}`: failed assertions:\n");
    for m in failed {
        s.push_str(&format!("- {}\n", m.trim_end()));
    }
    Err(s)
}
