//! `ox deploy`: build the selected hosts of a flake and deploy each over
//! SSH in parallel (crate `ox-deploy` does the per-host work), with one
//! live line per host, a summary table or `--json`, and an exit status
//! that is non-zero when any host did not end up on its new
//! generation. Also the hidden `ox deploy-remote`, the remote half of
//! the protocol (docs/deploy.md).

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ox_deploy::{Action, HostReport, Phase, Status, Target};

use crate::host_cmd::HostEval;

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Hosts to deploy (names in the flake's `oxConfigurations`),
    /// optionally followed by the goal: `switch` (default), `boot`,
    /// `test` or `dry-activate`.
    #[arg(value_name = "HOST… [GOAL]")]
    pub targets: Vec<String>,
    /// The flake with the fleet (a directory).
    #[arg(long, default_value = ".")]
    pub flake: String,
    /// Select hosts: names, `@tag` (deployment.tags), globs with `*`;
    /// comma-separated or repeated.
    #[arg(long, value_delimiter = ',')]
    pub on: Vec<String>,
    /// Deploy every host of the flake.
    #[arg(long)]
    pub all: bool,
    /// How many hosts to build and deploy at once (default 10).
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// Build, connect and report what would be copied; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Start no further hosts once this many have failed (with `-j 1`
    /// and 1: a canary rollout that stops at the first failure).
    #[arg(long, value_name = "N")]
    pub max_failures: Option<usize>,
    /// All hosts or none: each host activates only once every host is
    /// copied, and is confirmed only once every host activated; if any
    /// fails, the others roll back (or never activate). Runs every
    /// selected host at once (ignores -j).
    #[arg(long)]
    pub all_or_nothing: bool,
    /// First show every host's changes (paths to copy, diff against the
    /// running generation), then ask once for the whole fleet.
    #[arg(long, conflicts_with = "dry_run")]
    pub ask: bool,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Seconds a host waits for the deployer to log in again after
    /// switching before it rolls back by itself.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub confirm_timeout: u64,
    /// Extra ssh option (`Key=Value`, as `ssh -o`), for every host.
    #[arg(long = "ssh-option", value_name = "KEY=VALUE")]
    pub ssh_option: Vec<String>,
    /// Add a search path entry (`ox=DIR` picks the ox Nix tree).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
    /// Physical root of the local store (like `ox build --store-root`).
    #[arg(long = "store-root", value_name = "DIR")]
    pub store_root: Option<PathBuf>,
}

/// The remote half; run by `ox deploy` over SSH, not by people.
#[derive(Args, Debug)]
pub struct RemoteArgs {
    #[command(subcommand)]
    cmd: RemoteCmd,
}

#[derive(Subcommand, Debug)]
enum RemoteCmd {
    /// Print the store paths read from stdin that this store lacks.
    Missing,
    /// Import an archive from stdin (hash-checked, all or nothing).
    Import,
    /// Start the activation job and follow it until it waits for the
    /// confirmation or ends.
    Activate {
        #[arg(long)]
        id: String,
        #[arg(long)]
        toplevel: String,
        #[arg(long)]
        action: String,
        #[arg(long)]
        confirm_timeout: u64,
    },
    /// The job itself (runs as a transient unit).
    Apply {
        #[arg(long)]
        id: String,
    },
    /// Confirm that a fresh login works; print the job's decision.
    Confirm {
        #[arg(long)]
        id: String,
        /// A health check (shell command) that must succeed first.
        #[arg(long = "check")]
        checks: Vec<String>,
    },
    /// Print the job's state, waiting up to SECS for it to end.
    Status {
        #[arg(long)]
        id: String,
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Roll an unconfirmed activation back now.
    Abort {
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Print the job's log.
    Log {
        #[arg(long)]
        id: String,
    },
}

pub fn remote(a: RemoteArgs) -> Result<ExitCode, String> {
    let e = |e: ox_deploy::Error| format!("error: {e}\n");
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let mut stdout = std::io::stdout();
    match a.cmd {
        RemoteCmd::Missing => {
            let store = crate::build_cmd::open_store(None)?;
            let mut wanted = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut wanted)
                .map_err(|e| format!("error: reading stdin: {e}\n"))?;
            for p in ox_deploy::archive::missing(&store, &wanted).map_err(e)? {
                println!("{p}");
            }
        }
        RemoteCmd::Import => {
            let store = crate::build_cmd::open_store(None)?;
            let rep =
                ox_deploy::archive::import(&store, &mut std::io::stdin().lock()).map_err(e)?;
            println!("{}", serde_json::to_string(&rep).unwrap_or_default());
        }
        RemoteCmd::Activate {
            id,
            toplevel,
            action,
            confirm_timeout,
        } => {
            let st = ox_deploy::remote::start_and_follow(
                &exe,
                &id,
                &toplevel,
                &action,
                confirm_timeout,
                &mut stdout,
            )
            .map_err(e)?;
            ox_deploy::deploy::print_state(&mut stdout, &st);
        }
        RemoteCmd::Apply { id } => {
            let st = ox_deploy::remote::apply(&exe, &id).map_err(e)?;
            eprintln!("ox deploy job {id}: {}", st.state);
        }
        RemoteCmd::Confirm { id, checks } => {
            let st = ox_deploy::remote::confirm(&id, &checks).map_err(e)?;
            ox_deploy::deploy::print_state(&mut stdout, &st);
        }
        RemoteCmd::Status { id, wait } => {
            let st = ox_deploy::remote::status(&id, Duration::from_secs(wait)).map_err(e)?;
            ox_deploy::deploy::print_state(&mut stdout, &st);
        }
        RemoteCmd::Abort { id, reason } => {
            let st = ox_deploy::remote::abort(&id, &reason).map_err(e)?;
            ox_deploy::deploy::print_state(&mut stdout, &st);
        }
        RemoteCmd::Log { id } => {
            print!("{}", ox_deploy::remote::log(&id).map_err(e)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A glob with `*` only (host names and tags need no more).
fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let tail = &s[pre.len()..];
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

struct HostInfo {
    name: String,
    target: Option<Target>,
    tags: Vec<String>,
    checks: Vec<String>,
}

fn host_info(he: &mut HostEval, name: &str, extra_ssh: &[String]) -> Result<HostInfo, String> {
    let v = he.apply_json(
        name,
        "h: if h.config ? deployment then { inherit (h.config.deployment) targetHost targetUser targetPort tags sshOptions healthChecks; } else null",
    )?;
    if v.is_null() {
        return Err(format!(
            "error: host `{name}` has no `deployment` options; expected a host evaluated with ox's modules (ox.lib.oxSystem)\n"
        ));
    }
    let strs = |k: &str| -> Vec<String> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let target = v["targetHost"].as_str().map(|h| {
        let mut opts = strs("sshOptions");
        opts.extend(extra_ssh.iter().cloned());
        Target {
            name: name.to_string(),
            host: h.to_string(),
            user: v["targetUser"].as_str().unwrap_or("root").to_string(),
            port: v["targetPort"].as_u64().and_then(|p| u16::try_from(p).ok()),
            ssh_options: opts,
        }
    });
    Ok(HostInfo {
        name: name.to_string(),
        target,
        tags: strs("tags"),
        checks: strs("healthChecks"),
    })
}

/// Which hosts the arguments select, in the flake's order.
fn select(
    he: &mut HostEval,
    names: &[String],
    hosts: &[String],
    on: &[String],
    all: bool,
    flake: &str,
) -> Result<Vec<String>, String> {
    let known = |n: &str| names.iter().any(|x| x == n);
    let unknown = |n: &str| {
        format!(
            "error: unknown host `{n}`: the flake {flake} defines no oxConfigurations.{n} (hosts: {})\n",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )
    };
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    if all {
        chosen.extend(names.iter().cloned());
    }
    for h in hosts {
        if !known(h) {
            return Err(unknown(h));
        }
        chosen.insert(h.clone());
    }
    let mut tags_of: Option<Vec<(String, Vec<String>)>> = None;
    for sel in on.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if let Some(tag) = sel.strip_prefix('@') {
            if tags_of.is_none() {
                let mut v = Vec::new();
                for n in names {
                    let i = host_info(he, n, &[])?;
                    v.push((i.name, i.tags));
                }
                tags_of = Some(v);
            }
            let hit: Vec<&String> = tags_of
                .iter()
                .flatten()
                .filter(|(_, tags)| tags.iter().any(|t| glob(tag, t)))
                .map(|(n, _)| n)
                .collect();
            if hit.is_empty() {
                return Err(format!(
                    "error: --on @{tag}: no host of the flake {flake} has a matching deployment.tags entry\n"
                ));
            }
            chosen.extend(hit.into_iter().cloned());
        } else if sel.contains('*') {
            let hit: Vec<&String> = names.iter().filter(|n| glob(sel, n)).collect();
            if hit.is_empty() {
                return Err(format!(
                    "error: --on {sel}: matches no host (hosts: {})\n",
                    names.join(", ")
                ));
            }
            chosen.extend(hit.into_iter().cloned());
        } else {
            if !known(sel) {
                return Err(unknown(sel));
            }
            chosen.insert(sel.to_string());
        }
    }
    if chosen.is_empty() {
        return Err(
            "error: no hosts selected: name them (`ox deploy web1 web2`), use `--on @tag` or `--all`\n"
                .into(),
        );
    }
    Ok(names
        .iter()
        .filter(|n| chosen.contains(*n))
        .cloned()
        .collect())
}

/// One live line per host: spinner bars on a terminal, a line per phase
/// change otherwise.
struct Ui {
    names: Vec<String>,
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    last: Mutex<Vec<String>>,
    width: usize,
}

impl Ui {
    fn new(names: &[String]) -> Ui {
        let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
        let bars = std::io::stderr().is_terminal().then(|| {
            let m = MultiProgress::new();
            let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = names
                .iter()
                .map(|n| {
                    let b = m.add(ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(format!("{n:<width$}"));
                    b.set_message("waiting");
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                })
                .collect();
            (m, bars)
        });
        Ui {
            names: names.to_vec(),
            bars,
            last: Mutex::new(vec![String::new(); names.len()]),
            width,
        }
    }

    /// `key` is the phase; without a terminal a line is printed only
    /// when it changes, so logs stay short.
    fn set(&self, i: usize, key: &str, msg: String) {
        match &self.bars {
            Some((_, bars)) => bars[i].set_message(msg),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                let key = if key == "activate" { msg.as_str() } else { key };
                if last[i] != key {
                    last[i] = key.to_string();
                    let w = self.width;
                    eprintln!("{:<w$}  {msg}", self.names[i]);
                }
            }
        }
    }

    fn finish(&self, i: usize, msg: String) {
        match &self.bars {
            Some((_, bars)) => bars[i].finish_with_message(msg),
            None => {
                let w = self.width;
                eprintln!("{:<w$}  {msg}", self.names[i]);
            }
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn phase_text(p: &Phase) -> (&'static str, String) {
    match p {
        Phase::Connect => ("connect", "connect".into()),
        Phase::CopyOx { bytes } => ("copy-ox", format!("copy the ox binary ({})", mib(*bytes))),
        Phase::Query => ("query", "ask which paths the host lacks".into()),
        Phase::Copy { paths, total, sent } => (
            "copy",
            format!("copy {paths} paths, {} of {}", mib(*sent), mib(*total)),
        ),
        // every activation line is a step of its own in a log
        Phase::Activate { last } => (
            "activate",
            if last.is_empty() {
                "activate".into()
            } else {
                format!("activate: {last}")
            },
        ),
        Phase::Confirm { left } => (
            "confirm",
            format!(
                "confirm over a new connection, health checks ({} s left)",
                left.as_secs()
            ),
        ),
        Phase::Finished => ("finished", "finished".into()),
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Done => "done",
        Status::DryRun => "dry-run",
        Status::Failed => "FAILED",
        Status::RolledBack => "ROLLED BACK",
        Status::RollbackFailed => "ROLLBACK FAILED",
        Status::Skipped => "skipped",
    }
}

/// Builds one host with `ox build --flake` in a child process (the
/// evaluator is single-threaded; children build in parallel).
fn build_host(a: &DeployArgs, flake: &str, host: &str) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut c = std::process::Command::new(exe);
    c.arg("build")
        .arg("--flake")
        .arg(format!("{flake}#{host}"))
        .arg("--no-out-link");
    if let Some(r) = &a.store_root {
        c.arg("--store-root").arg(r);
    }
    for i in &a.include {
        c.arg("-I").arg(i);
    }
    let out = c
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("building host"))
            .collect();
        return Err(format!("build failed: {}", lines.join("\n")));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "build printed no toplevel".to_string())
}

fn failed_report(t: &Option<Target>, name: &str, action: Action, reason: String) -> HostReport {
    HostReport {
        host: name.to_string(),
        target: t.as_ref().map(|t| t.display()).unwrap_or_default(),
        action,
        status: Status::Failed,
        reason: Some(reason),
        toplevel: String::new(),
        closure_paths: 0,
        copied_paths: 0,
        copied_bytes: 0,
        ox_copied: false,
        previous: None,
        seconds: Default::default(),
        log: String::new(),
    }
}

pub fn run(mut a: DeployArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    // a trailing goal word
    let mut action = Action::Switch;
    if let Some(last) = a.targets.last() {
        if let Some(act) = Action::parse(last) {
            action = act;
            a.targets.pop();
        }
    }
    let flake_dir = std::env::current_dir()
        .map_err(|e| format!("error: {e}\n"))?
        .join(&a.flake);
    let flake = flake_dir.to_string_lossy().into_owned();
    let (mut he, _) = HostEval::open_flake(&flake, &a.include)?;
    let names = he.host_names()?;
    let selected = select(&mut he, &names, &a.targets, &a.on, a.all, &a.flake)?;
    let mut infos = Vec::new();
    for n in &selected {
        infos.push(host_info(&mut he, n, &a.ssh_option)?);
    }
    drop(he);

    let store = crate::build_cmd::open_store(a.store_root.as_ref())?;
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let control = tempfile_dir()?;
    let opts = ox_deploy::Options {
        action,
        confirm_timeout: Duration::from_secs(a.confirm_timeout.max(1)),
        dry_run: a.dry_run,
        control_dir: control.0.clone(),
        remote_ox: ox_deploy::deploy::remote_ox_path(&exe).map_err(|e| format!("error: {e}\n"))?,
        ox_binary: exe,
    };
    if a.ask {
        preview_and_ask(&a, &flake, &infos, &store, &opts, &selected, action)?;
    }
    let reports = run_pass(&a, &flake, &infos, &store, &opts, &selected, action);
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !matches!(r.status, Status::Done | Status::DryRun))
        .map(|r| r.host.as_str())
        .collect();
    if a.json {
        let j = serde_json::json!({
            "action": action,
            "ok": failed.is_empty(),
            "seconds": started.elapsed().as_secs_f64(),
            "hosts": reports,
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        print!("{}", table(&reports));
        if action == Action::DryActivate {
            for r in &reports {
                println!("\n== {} ==\n{}", r.host, r.log.trim_end());
            }
        }
    }
    let _ = std::io::stdout().flush();
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("error: deploy failed on: {}\n", failed.join(", ")))
    }
}

/// `--all-or-nothing`: two barriers every host passes (or is counted
/// past when it stops early), before activating and before confirming.
struct FleetGate {
    total: usize,
    m: Mutex<GateCounts>,
    cv: std::sync::Condvar,
}

#[derive(Default)]
struct GateCounts {
    at_activate: usize,
    at_confirm: usize,
    failed: bool,
}

impl FleetGate {
    fn new(total: usize) -> FleetGate {
        FleetGate {
            total,
            m: Mutex::new(GateCounts::default()),
            cv: std::sync::Condvar::new(),
        }
    }

    fn wait(
        &self,
        arrive: impl FnOnce(&mut GateCounts),
        all: impl Fn(&GateCounts) -> bool,
    ) -> bool {
        let mut g = self.m.lock().unwrap_or_else(|p| p.into_inner());
        arrive(&mut g);
        self.cv.notify_all();
        while !all(&g) {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        !g.failed
    }
}

impl ox_deploy::Gate for FleetGate {
    fn activate(&self) -> bool {
        self.wait(|g| g.at_activate += 1, |g| g.at_activate >= self.total)
    }
    fn confirm(&self, ok: bool) -> bool {
        self.wait(
            |g| {
                g.at_confirm += 1;
                g.failed |= !ok;
            },
            |g| g.at_confirm >= self.total,
        )
    }
    fn gone(&self, ok: bool) {
        let mut g = self.m.lock().unwrap_or_else(|p| p.into_inner());
        g.at_activate += 1;
        g.at_confirm += 1;
        g.failed |= !ok;
        self.cv.notify_all();
    }
}

#[allow(clippy::too_many_arguments)]
fn deploy_one(
    a: &DeployArgs,
    flake: &str,
    info: &HostInfo,
    store: &ox_localstore::Store,
    opts: &ox_deploy::Options,
    gate: &dyn ox_deploy::Gate,
    ui: &Ui,
    i: usize,
    action: Action,
) -> HostReport {
    let Some(target) = &info.target else {
        gate.gone(false);
        return failed_report(
            &None,
            &info.name,
            action,
            "deployment.targetHost is null: expected an address to deploy to".into(),
        );
    };
    ui.set(i, "build", "build".into());
    let t = Instant::now();
    let top = match build_host(a, flake, &info.name) {
        Ok(t) => t,
        Err(e) => {
            gate.gone(false);
            return failed_report(&info.target, &info.name, action, e);
        }
    };
    let build_secs = t.elapsed().as_secs_f64();
    let sp = match store.parse(&top) {
        Ok(p) => p,
        Err(e) => {
            gate.gone(false);
            return failed_report(&info.target, &info.name, action, e.to_string());
        }
    };
    let progress = |p: Phase| {
        if matches!(p, Phase::Finished) {
            // the worker prints the outcome itself
            return;
        }
        let (k, m) = phase_text(&p);
        ui.set(i, k, m);
    };
    let mut rep = ox_deploy::deploy_host(store, target, &sp, &info.checks, opts, gate, &progress);
    rep.seconds.build = build_secs;
    rep
}

/// Builds and deploys every host, at most `-j` at once.
fn run_pass(
    a: &DeployArgs,
    flake: &str,
    infos: &[HostInfo],
    store: &ox_localstore::Store,
    opts: &ox_deploy::Options,
    selected: &[String],
    action: Action,
) -> Vec<HostReport> {
    let ui = Ui::new(selected);
    let fleet = FleetGate::new(infos.len());
    let gate: &dyn ox_deploy::Gate = if a.all_or_nothing && !opts.dry_run {
        &fleet
    } else {
        &ox_deploy::NoGate
    };
    // the barriers need every host under way at once
    let jobs = if a.all_or_nothing {
        infos.len()
    } else {
        a.jobs.unwrap_or(10).max(1).min(infos.len())
    };
    let queue = Mutex::new((0..infos.len()).collect::<std::collections::VecDeque<_>>());
    let reports: Mutex<Vec<Option<HostReport>>> = Mutex::new(vec![None; infos.len()]);
    let failures = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let Some(i) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                    break;
                };
                let info = &infos[i];
                let failed_so_far = failures.load(std::sync::atomic::Ordering::SeqCst);
                let rep = match a.max_failures {
                    Some(max) if failed_so_far >= max => {
                        let mut r = failed_report(
                            &info.target,
                            &info.name,
                            action,
                            format!(
                                "not started: {failed_so_far} host(s) failed (--max-failures {max})"
                            ),
                        );
                        r.status = Status::Skipped;
                        gate.gone(false);
                        r
                    }
                    _ => deploy_one(a, flake, info, store, opts, gate, &ui, i, action),
                };
                if !matches!(rep.status, Status::Done | Status::DryRun | Status::Skipped) {
                    failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                let line = match &rep.reason {
                    Some(r) if rep.status != Status::Done => {
                        format!("{}: {}", status_word(rep.status), r)
                    }
                    _ => format!(
                        "{} ({} paths, {} copied)",
                        status_word(rep.status),
                        rep.copied_paths,
                        mib(rep.copied_bytes)
                    ),
                };
                ui.finish(i, line);
                reports.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(rep);
            });
        }
    });
    reports
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// `--ask`: a dry run of every selected host, then one preview of the
/// whole fleet (what each host would copy, its diff against the
/// generation it runs now) and one question. Any host that cannot be
/// reached or built stops it here, before anything changed.
fn preview_and_ask(
    a: &DeployArgs,
    flake: &str,
    infos: &[HostInfo],
    store: &ox_localstore::Store,
    opts: &ox_deploy::Options,
    selected: &[String],
    action: Action,
) -> Result<(), String> {
    let dry = ox_deploy::Options {
        action: opts.action,
        confirm_timeout: opts.confirm_timeout,
        dry_run: true,
        control_dir: opts.control_dir.clone(),
        ox_binary: opts.ox_binary.clone(),
        remote_ox: opts.remote_ox.clone(),
    };
    let reports = run_pass(a, flake, infos, store, &dry, selected, action);
    let color = crate::stderr_color();
    let mut bad = Vec::new();
    for r in &reports {
        eprintln!("\n== {} ({}) ==", r.host, r.target);
        if r.status != Status::DryRun {
            eprintln!(
                "cannot deploy: {}",
                r.reason.as_deref().unwrap_or("unknown error")
            );
            bad.push(r.host.as_str());
            continue;
        }
        eprintln!("{}", r.reason.as_deref().unwrap_or("nothing to copy"));
        let real = |p: &str| -> Option<PathBuf> {
            let sp = store.parse(p).ok()?;
            store.is_valid(&sp).ok()?.then(|| store.real_path(&sp))
        };
        match r.previous.as_deref() {
            None => eprintln!("first activation on this host"),
            Some(prev) if prev == r.toplevel => eprintln!("already running this generation"),
            Some(prev) => match (real(prev), real(&r.toplevel)) {
                (Some(old), Some(new)) => match ox_system::diff::diff(&old, &new) {
                    Ok(d) => {
                        let text = d.render(color);
                        if text.trim().is_empty() {
                            eprintln!("no changes to files, units, users or packages");
                        } else {
                            eprint!("{text}");
                        }
                    }
                    Err(e) => eprintln!("(no diff: {e})"),
                },
                _ => eprintln!(
                    "(no diff: the running generation {prev} is not in this machine's store)"
                ),
            },
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "error: cannot deploy to {}; nothing was changed anywhere\n",
            bad.join(", ")
        ));
    }
    if !std::io::stdin().is_terminal() && std::env::var_os("OX_ASSUME_TTY").is_none() {
        return Err("error: --ask needs a terminal to answer on\n".into());
    }
    eprint!(
        "\n{} {} host{}? [y/N] ",
        action.as_str(),
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    let mut ans = String::new();
    let _ = std::io::stdin().read_line(&mut ans);
    if !matches!(ans.trim(), "y" | "Y" | "yes") {
        return Err("aborted; nothing was changed\n".into());
    }
    Ok(())
}

fn table(reports: &[HostReport]) -> String {
    let mut rows = vec![[
        "host".to_string(),
        "target".into(),
        "result".into(),
        "copied".into(),
        "time".into(),
        "reason".into(),
    ]];
    for r in reports {
        let secs = r.seconds.build
            + r.seconds.connect
            + r.seconds.copy
            + r.seconds.activate
            + r.seconds.confirm;
        rows.push([
            r.host.clone(),
            r.target.clone(),
            status_word(r.status).to_string(),
            format!(
                "{} paths, {}{}",
                r.copied_paths,
                mib(r.copied_bytes),
                if r.ox_copied { " +ox" } else { "" }
            ),
            format!("{secs:.1} s"),
            r.reason.clone().unwrap_or_default(),
        ]);
    }
    crate::host_cmd::columns(&rows)
}

/// A private directory for control sockets, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<TempDir, String> {
    use std::os::unix::fs::DirBuilderExt;
    // short: a unix socket path is limited to 108 bytes
    let base = std::env::temp_dir();
    for n in 0..100u32 {
        let p = base.join(format!("ox-deploy-{}-{n}", std::process::id()));
        if std::fs::DirBuilder::new().mode(0o700).create(&p).is_ok() {
            return Ok(TempDir(p));
        }
    }
    Err("error: cannot create a private directory for ssh control sockets\n".into())
}

#[cfg(test)]
mod tests {
    use super::{glob, FleetGate};
    use ox_deploy::Gate;

    #[test]
    fn fleet_gate_waits_for_every_host_and_fails_for_all() {
        // all three arrive: everyone may go on, at both barriers
        let g = FleetGate::new(3);
        let r: Vec<(bool, bool)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..3)
                .map(|_| s.spawn(|| (g.activate(), g.confirm(true))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(r, vec![(true, true); 3]);
        // one host stops before activating: nobody activates
        let g = FleetGate::new(3);
        let r: Vec<bool> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2).map(|_| s.spawn(|| g.activate())).collect();
            std::thread::sleep(std::time::Duration::from_millis(50));
            g.gone(false);
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(r, vec![false, false]);
        // one activation fails: nobody is confirmed
        let g = FleetGate::new(2);
        let r: Vec<bool> = std::thread::scope(|s| {
            let a = s.spawn(|| {
                g.activate();
                g.confirm(true)
            });
            let b = s.spawn(|| {
                g.activate();
                g.confirm(false)
            });
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        assert_eq!(r, vec![false, false]);
    }

    #[test]
    fn globs() {
        assert!(glob("web*", "web1"));
        assert!(glob("*", "x"));
        assert!(glob("rack-*-a", "rack-1-a"));
        assert!(!glob("rack-*-a", "rack-1-b"));
        assert!(!glob("web", "web1"));
    }
}
