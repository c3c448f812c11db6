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

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The hosts file (an attribute set of evaluated hosts).
    #[arg(long, short = 'f', default_value = "hosts.nix")]
    pub file: PathBuf,
    /// The host to build (default: this machine's host name).
    #[arg(long)]
    pub host: Option<String>,
    /// Build every host in the hosts file, in parallel.
    #[arg(long, conflicts_with = "host")]
    pub all: bool,
    /// A flake reference `REF#HOST` (not supported yet: see the flakes issue).
    #[arg(long, conflicts_with = "file")]
    pub flake: Option<String>,
    /// Where to create the symlink to the toplevel (`--all`: `<link>-<host>`).
    #[arg(long, short = 'o', default_value = "result")]
    pub out_link: PathBuf,
    /// Do not create a symlink to the result.
    #[arg(long)]
    pub no_out_link: bool,
    /// The store directory (default: $OX_STORE_DIR or /ox/store).
    #[arg(long)]
    pub store_dir: Option<String>,
    /// Add a search path entry (`PATH` or `PREFIX=PATH`).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
    /// Print the rendered plan instead of building (no store writes).
    #[arg(long)]
    pub dry_run: bool,
}

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

/// The directory holding ox's Nix files (`<ox>`): $OX_NIX_DIR, next to
/// the installed binary (`../share/ox/nix`), or the source checkout.
pub fn nix_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OX_NIX_DIR") {
        return PathBuf::from(d);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(p) = exe.parent().and_then(|b| b.parent()) {
            let d = p.join("share/ox/nix");
            if d.is_dir() {
                return d;
            }
        }
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../nix"))
}

fn store_dir(arg: &Option<String>) -> String {
    arg.clone()
        .or_else(|| std::env::var("OX_STORE_DIR").ok())
        .unwrap_or_else(|| ox_system::store::DEFAULT_STORE_DIR.to_string())
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
    fn new(a: &BuildArgs) -> Result<HostEval, String> {
        HostEval::open(&a.file, &a.include, &a.store_dir)
    }

    pub fn open(
        file: &Path,
        include: &[String],
        store: &Option<String>,
    ) -> Result<HostEval, String> {
        let mut includes = include.to_vec();
        includes.push(format!("ox={}", nix_dir().display()));
        let mut ev = crate::eval_cmd::make_eval(&includes, false);
        ev.settings.store_dir = store_dir(store);
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

/// Evaluates, checks and renders one host.
fn render_host(
    he: &mut HostEval,
    host: &str,
    opts: &ox_system::Options,
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
    let plan = he.json(&format!("({base}).config.system.build.oxPlan"))?;
    ox_system::render(&plan, opts).map_err(|e| format!("error: host `{host}`: {e}\n"))
}

fn build_one(a: &BuildArgs, host: &str, link: Option<&Path>) -> Result<String, String> {
    let mut he = HostEval::new(a)?;
    let sd = store_dir(&a.store_dir);
    let opts = ox_system::Options {
        store_dir: sd.clone(),
        ..Default::default()
    };
    eprintln!("building host `{host}`…");
    let r = render_host(&mut he, host, &opts)?;
    if a.dry_run {
        let p = r.toplevel_path(&sd).map_err(|e| format!("error: {e}\n"))?;
        println!(
            "{}",
            serde_json::to_string_pretty(&r.plan).unwrap_or_default()
        );
        return Ok(p);
    }
    let path = ox_system::store::install(&r, &sd, Path::new("/"))
        .map_err(|e| format!("error: host `{host}`: {e}\n"))?;
    if let Some(l) = link {
        ox_system::store::out_link(l, &path).map_err(|e| format!("error: {e}\n"))?;
    }
    Ok(path)
}

pub fn build(a: BuildArgs) -> Result<ExitCode, String> {
    if let Some(f) = &a.flake {
        return Err(format!(
            "error: --flake {f}: flakes are not supported yet; use --file HOSTS.nix --host NAME\n"
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
        let p = build_one(&a, &host, link(None).as_deref())?;
        println!("{p}");
        return Ok(ExitCode::SUCCESS);
    }
    // --all: one child process per host (the evaluator is single-threaded),
    // at most as many at once as there are CPUs
    let hosts = HostEval::new(&a)?.host_names()?;
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut failed = Vec::new();
    for chunk in hosts.chunks(jobs) {
        let mut children = Vec::new();
        for h in chunk {
            let mut c = std::process::Command::new(&exe);
            c.arg("build")
                .arg("--file")
                .arg(&a.file)
                .arg("--host")
                .arg(h);
            match link(Some(h)) {
                Some(l) => c.arg("--out-link").arg(l),
                None => c.arg("--no-out-link"),
            };
            if let Some(sd) = &a.store_dir {
                c.arg("--store-dir").arg(sd);
            }
            for i in &a.include {
                c.arg("-I").arg(i);
            }
            if a.dry_run {
                c.arg("--dry-run");
            }
            c.stdout(std::process::Stdio::piped());
            let child = c.spawn().map_err(|e| format!("error: {e}\n"))?;
            children.push((h.clone(), child));
        }
        for (h, child) in children {
            let out = child
                .wait_with_output()
                .map_err(|e| format!("error: {e}\n"))?;
            if out.status.success() {
                let p = String::from_utf8_lossy(&out.stdout);
                println!("{h} {}", p.lines().last().unwrap_or_default());
            } else {
                failed.push(h);
            }
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
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
