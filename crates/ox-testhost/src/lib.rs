//! Test support: real Debian hosts for ox's integration tests.
//!
//! Owns the recipe from `shared/docs/test-hosts.md`: a Debian bookworm
//! base rootfs made once with debootstrap and cached as a zstd tarball
//! under `/var/cache/ox-test`, and containers booting real systemd as
//! PID 1 with `systemd-nspawn` on a private overlay of that base. Tests
//! run commands in a guest with `nsenter -t LEADER -a` (there is no
//! machined on the host, so `systemctl -M` cannot work) and read its
//! files directly through [`Host::root`].
//!
//! Everything a host sets up (overlay, cgroup directories, nspawn
//! process, network namespace) is torn down in `Drop`, so a failing or
//! panicking test cleans up too; names carry the test process's pid so
//! parallel tests never share anything, and [`sweep_stale`] removes
//! what a SIGKILLed test run left behind.
//!
//! This crate knows nothing about ox itself: it only boots hosts and
//! runs commands in them, so the activation and deploy tests can share
//! it. The one exception is [`testsupport`], the helpers the crates'
//! integration tests share (scratch dirs, running `ox`, a host with
//! `ox` and a store bound in).

use std::fs;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub mod testsupport;

/// Where the cached base rootfs tarball and its unpacked copy live.
pub const CACHE_DIR: &str = "/var/cache/ox-test";
/// Bump when the package set of the base changes.
const BASE_NAME: &str = "bookworm-v1";
/// Per-host scratch space (overlay upper/work dirs, logs).
const RUN_DIR: &str = "/var/tmp/ox-testhost";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn run_ok(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output().map_err(|e| err(format!("{cmd:?}: {e}")))?;
    if !out.status.success() {
        return Err(err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

/// Why a host cannot be booted here, or `None` when it can. Tests call
/// this first and skip (loudly) when the machine lacks the tools, so a
/// developer laptop without root still runs the rest of the suite.
pub fn unavailable() -> Option<String> {
    // SAFETY: plain syscall without arguments.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (namespaces, overlay mounts, cgroups)".into());
    }
    for tool in ["systemd-nspawn", "debootstrap", "zstd", "nsenter"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!("`{tool}` is missing (run scripts/deps)"));
        }
    }
    None
}

fn harness_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/harness/mkrootfs.sh")
}

/// Holds an exclusive `flock` on a file until dropped.
struct FileLock(#[allow(dead_code)] fs::File);
impl FileLock {
    fn take(path: &Path) -> io::Result<FileLock> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        use std::os::fd::AsRawFd;
        // SAFETY: valid fd owned by `f`.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileLock(f))
    }
}

/// The unpacked base rootfs (read-only lower layer of every host),
/// building and unpacking the cached tarball on first use. Takes ~40 s
/// the very first time on a machine (debootstrap), ~1 s to unpack after.
pub fn base_rootfs() -> io::Result<PathBuf> {
    let cache = Path::new(CACHE_DIR);
    fs::create_dir_all(cache)?;
    let tarball = cache.join(format!("{BASE_NAME}.tar.zst"));
    let dir = cache.join(BASE_NAME);
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    if !tarball.exists() {
        run_ok(Command::new("bash").arg(harness_script()).arg(&tarball))?;
    }
    let _lock = FileLock::take(&cache.join(format!("{BASE_NAME}.unpack.lock")))?;
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    let tmp = cache.join(format!("{BASE_NAME}.unpack.{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    run_ok(
        Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "-I", "zstd", "-xf"])
            .arg(&tarball)
            .arg("-C")
            .arg(&tmp),
    )?;
    fs::write(tmp.join(".complete"), b"")?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir)?;
    Ok(dir)
}

/// How a host is networked.
#[derive(Clone, Debug, Default)]
pub enum Network {
    /// Only a loopback interface (`--private-network`).
    #[default]
    Private,
    /// Join an existing network namespace (see [`Netns`]).
    Namespace(PathBuf),
}

/// What to boot.
#[derive(Clone, Debug, Default)]
pub struct HostOpts {
    /// Short prefix of the machine name (the pid and a counter follow).
    pub prefix: String,
    /// `(host path, guest path)` pairs bind-mounted read-only.
    pub binds_ro: Vec<(PathBuf, PathBuf)>,
    /// `(host path, guest path)` pairs bind-mounted read-write.
    pub binds_rw: Vec<(PathBuf, PathBuf)>,
    pub network: Network,
    /// Written to /root/.ssh/authorized_keys; also makes fresh ssh host keys.
    pub root_authorized_keys: Option<String>,
    /// How long to wait for `systemctl is-system-running`; default 60 s.
    pub boot_timeout: Option<Duration>,
}

/// A booted container. Dropping it shuts it down and removes every
/// trace of it.
pub struct Host {
    opts: HostOpts,
    name: String,
    dir: PathBuf,
    merged: PathBuf,
    nspawn: Option<Child>,
    leader: i32,
    cgroups: Vec<PathBuf>,
    mounted: bool,
}

fn cgroup_roots() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        // pure cgroup2 host
        vec![base.to_path_buf()]
    } else {
        // hybrid (this project's machines): nspawn needs both the named
        // systemd hierarchy and the unified one
        ["systemd", "unified"]
            .iter()
            .map(|h| base.join(h))
            .filter(|p| p.exists())
            .collect()
    }
}

fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    use std::io::Read;
    fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn children_of(pid: i32) -> Vec<i32> {
    // children of every thread, not just the main one
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            let f = t.path().join("children");
            out.extend(
                fs::read_to_string(f)
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|s| s.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// Whether `pid` is a container's init: PID 1 in a pid namespace of
/// its own (the last `NSpid` field is 1 and there is more than one), and
/// running systemd. A process merely called `systemd` (nspawn's helpers
/// before and around the exec, a guest's `systemd --user`) is not.
pub fn is_guest_init(pid: i32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let nspid: Vec<&str> = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default();
    let name = status
        .lines()
        .find_map(|l| l.strip_prefix("Name:"))
        .map(str::trim)
        .unwrap_or("");
    nspid.len() >= 2 && nspid.last() == Some(&"1") && name == "systemd"
}

/// The guest's init among the descendants of the nspawn process `pid`
/// (nspawn forks intermediate children; the one that becomes the
/// guest's PID 1 may sit below one of them).
pub fn find_guest_init(pid: i32) -> Option<i32> {
    let mut queue = vec![(pid, 0)];
    while let Some((p, depth)) = queue.pop() {
        for c in children_of(p) {
            if is_guest_init(c) {
                return Some(c);
            }
            // the guest's own processes are below its init, not here
            if depth < 3 {
                queue.push((c, depth + 1));
            }
        }
    }
    None
}

impl Host {
    /// Boot a host and wait until its systemd reports `running` (or
    /// `degraded`, with the failed units printed to stderr).
    pub fn boot(opts: HostOpts) -> io::Result<Host> {
        if let Some(why) = unavailable() {
            return Err(err(format!("cannot boot a test host: {why}")));
        }
        let base = base_rootfs()?;
        sweep_stale();
        let _ = fs::write("/proc/sys/fs/inotify/max_user_instances", "8192");
        let _ = fs::write("/proc/sys/fs/inotify/max_user_watches", "1048576");
        let prefix = if opts.prefix.is_empty() {
            "oxt"
        } else {
            &opts.prefix
        };
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let dir = Path::new(RUN_DIR).join(&name);
        let _ = fs::remove_dir_all(&dir);
        for d in ["upper", "work", "merged"] {
            fs::create_dir_all(dir.join(d))?;
        }
        let merged = dir.join("merged");
        let mut host = Host {
            opts: opts.clone(),
            name: name.clone(),
            dir: dir.clone(),
            merged: merged.clone(),
            nspawn: None,
            leader: 0,
            cgroups: Vec::new(),
            mounted: false,
        };
        run_ok(
            Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o"])
                .arg(format!(
                    "lowerdir={},upperdir={},workdir={}",
                    base.display(),
                    dir.join("upper").display(),
                    dir.join("work").display()
                ))
                .arg(&merged),
        )?;
        host.mounted = true;

        // identity of this instance
        fs::write(
            merged.join("etc/machine-id"),
            format!("{}\n", random_hex(16)?),
        )?;
        fs::write(merged.join("etc/hostname"), format!("{name}\n"))?;
        if let Some(keys) = &opts.root_authorized_keys {
            fs::create_dir_all(merged.join("root/.ssh"))?;
            fs::write(merged.join("root/.ssh/authorized_keys"), keys)?;
        }
        // a host key of its own (the base has none), so sshd starts
        let key = merged.join("etc/ssh/ssh_host_ed25519_key");
        if merged.join("etc/ssh").is_dir() {
            let _ = fs::remove_file(&key);
            let _ = fs::remove_file(key.with_extension("pub"));
            run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                    .arg(&key),
            )?;
        }

        // Each container must start from its own cgroup: nspawn with
        // --keep-unit nests the guest under the caller's cgroup.
        for root in cgroup_roots() {
            let cg = root.join(format!("ox-testhost-{name}"));
            fs::create_dir_all(&cg)?;
            host.cgroups.push(cg);
        }
        host.start()?;
        Ok(host)
    }

    /// Start nspawn on the prepared overlay and wait for the guest.
    fn start(&mut self) -> io::Result<()> {
        let host = self;
        let opts = host.opts.clone();
        let name = host.name.clone();
        let dir = host.dir.clone();
        let merged = host.merged.clone();
        let procs: Vec<std::ffi::CString> = host
            .cgroups
            .iter()
            .map(|cg| {
                std::ffi::CString::new(cg.join("cgroup.procs").to_string_lossy().into_owned())
                    .expect("cgroup path has no NUL")
            })
            .collect();

        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("console.log"))?;
        let mut cmd = Command::new("systemd-nspawn");
        cmd.env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1")
            .args([
                "-q",
                "-b",
                "--register=no",
                "--keep-unit",
                "--console=passive",
            ])
            .arg("-D")
            .arg(&merged)
            .arg("-M")
            .arg(&name);
        match &opts.network {
            Network::Private => {
                cmd.arg("--private-network");
            }
            Network::Namespace(p) => {
                cmd.arg(format!("--network-namespace-path={}", p.display()));
            }
        }
        for (h, g) in &opts.binds_ro {
            cmd.arg(format!("--bind-ro={}:{}", h.display(), g.display()));
        }
        for (h, g) in &opts.binds_rw {
            cmd.arg(format!("--bind={}:{}", h.display(), g.display()));
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SAFETY: the closure only calls async-signal-safe libc functions
        // on memory prepared before fork.
        unsafe {
            cmd.pre_exec(move || {
                for p in &procs {
                    let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
                    if fd < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    // "0" moves the writing process itself
                    let r = libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                    if r != 1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let pid = child.id();
        host.nspawn = Some(child);
        fs::write(dir.join("nspawn.pid"), pid.to_string())?;

        let deadline = Instant::now() + opts.boot_timeout.unwrap_or(Duration::from_secs(60));
        loop {
            // nspawn forks an intermediate child first; the leader is
            // the process that became the guest's init
            if let Some(l) = find_guest_init(pid as i32) {
                host.leader = l;
                break;
            }
            if let Some(st) = host
                .nspawn
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(err(format!(
                    "systemd-nspawn exited ({st}) before the guest started:\n{}",
                    host.console_log()
                )));
            }
            if Instant::now() > deadline {
                return Err(err(format!(
                    "no container leader process\n{}",
                    host.console_log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        loop {
            // the leader must still be the guest's init; if it is gone
            // (or was never it), find the real one again
            if !is_guest_init(host.leader) {
                if let Some(l) = find_guest_init(pid as i32) {
                    eprintln!(
                        "ox-testhost: {name}: leader {} is not the guest's init; now {l}",
                        host.leader
                    );
                    host.leader = l;
                }
            }
            let out = host.exec(&["systemctl", "is-system-running"])?;
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let last = format!(
                "leader {} (init: {}), `systemctl is-system-running` exited {}: stdout {:?}, stderr {:?}",
                host.leader,
                is_guest_init(host.leader),
                out.status,
                state,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            if let Some(st) = host
                .nspawn
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(err(format!(
                    "systemd-nspawn exited ({st}) while the guest booted; last: {last}\n{}",
                    host.console_log()
                )));
            }
            match state.as_str() {
                "running" => break,
                "degraded" => {
                    let failed = host.sh("systemctl --failed --no-legend --plain")?;
                    eprintln!(
                        "ox-testhost: {name} booted degraded: {}",
                        String::from_utf8_lossy(&failed.stdout)
                    );
                    break;
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(err(format!(
                    "{name}: system state `{state}` after the boot timeout; last: {last}\n{}",
                    host.console_log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Power the guest off and boot it again on the same overlay (its
    /// disk state survives, /run does not), like a reboot.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop_nspawn();
        // the previous boot's cgroup children are empty now
        for cg in &self.cgroups {
            if let Ok(rd) = fs::read_dir(cg) {
                for e in rd.flatten() {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        rmdir_tree(&e.path());
                    }
                }
            }
        }
        self.start()
    }

    fn stop_nspawn(&mut self) {
        if let Some(mut child) = self.nspawn.take() {
            // SIGTERM makes nspawn shut the guest down cleanly (~0.2 s)
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }

    /// The machine name (also its hostname).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The guest's root directory as seen from the host (the overlay).
    pub fn root(&self) -> &Path {
        &self.merged
    }

    /// A host path for a guest path (`/etc/x` → `<root>/etc/x`).
    pub fn path(&self, guest: &str) -> PathBuf {
        self.merged.join(guest.trim_start_matches('/'))
    }

    /// The pid (in the host's pid namespace) of the guest's PID 1.
    pub fn leader(&self) -> i32 {
        self.leader
    }

    /// The end of the guest's console (boot messages), for errors.
    fn console_log(&self) -> String {
        let all = fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = all.lines().collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        format!("last console lines:\n{}", tail.join("\n"))
    }

    /// A command that runs inside the guest (all its namespaces), for
    /// callers that want to add env, stdin or spawn it themselves.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.leader.to_string())
            .arg("-a")
            // a clean, guest-like environment
            .arg("env")
            .arg("-i")
            .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .arg("HOME=/root")
            .arg("LANG=C.UTF-8")
            .args(argv);
        c
    }

    /// Run a command inside the guest and collect its output (whatever
    /// its exit status).
    pub fn exec(&self, argv: &[&str]) -> io::Result<Output> {
        self.command(argv).stdin(Stdio::null()).output()
    }

    /// Run a shell script inside the guest.
    pub fn sh(&self, script: &str) -> io::Result<Output> {
        self.exec(&["bash", "-c", script])
    }

    /// Run a shell script and return its stdout, failing with the full
    /// output when it exits non-zero.
    pub fn sh_ok(&self, script: &str) -> io::Result<String> {
        let out = self.sh(script)?;
        if !out.status.success() {
            return Err(err(format!(
                "in {}: `{script}` failed ({}):\n{}{}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `systemctl is-active UNIT` inside the guest.
    pub fn unit_state(&self, unit: &str) -> String {
        self.exec(&["systemctl", "is-active", unit])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    /// Shut the guest down and remove everything. Drop does the same;
    /// this reports errors.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> io::Result<()> {
        self.stop_nspawn();
        cleanup_dir(&self.dir, self.mounted, &self.cgroups);
        self.mounted = false;
        self.cgroups.clear();
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

fn rmdir_tree(p: &Path) {
    if let Ok(rd) = fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(p);
}

fn cleanup_dir(dir: &Path, mounted: bool, cgroups: &[PathBuf]) {
    let merged = dir.join("merged");
    if mounted || is_mountpoint(&merged) {
        let st = Command::new("umount")
            .arg(&merged)
            .stderr(Stdio::null())
            .status();
        if !matches!(st, Ok(s) if s.success()) {
            let _ = Command::new("umount").arg("-l").arg(&merged).status();
        }
    }
    for cg in cgroups {
        // the guest's last processes may still be exiting
        for _ in 0..40 {
            rmdir_tree(cg);
            if !cg.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if !is_mountpoint(&merged) {
        let _ = fs::remove_dir_all(dir);
    }
}

fn is_mountpoint(p: &Path) -> bool {
    let Ok(m) = fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let p = p.to_string_lossy();
    m.lines().any(|l| l.split(' ').nth(1) == Some(&p))
}

/// Remove hosts left behind by test processes that no longer exist
/// (e.g. a test binary killed with SIGKILL).
pub fn sweep_stale() {
    let Ok(rd) = fs::read_dir(RUN_DIR) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // <prefix>-<pid>-<n>
        let mut parts = name.rsplitn(3, '-');
        let (Some(_), Some(pid)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(np) = fs::read_to_string(e.path().join("nspawn.pid")) {
            if let Ok(np) = np.trim().parse::<i32>() {
                // SAFETY: plain signal; a reused pid is at worst a stray
                // SIGTERM to a process named systemd-nspawn (checked below)
                let comm = fs::read_to_string(format!("/proc/{np}/comm")).unwrap_or_default();
                if comm.trim() == "systemd-nspawn" {
                    unsafe { libc::kill(np, libc::SIGTERM) };
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        let cgs: Vec<PathBuf> = cgroup_roots()
            .iter()
            .map(|r| r.join(format!("ox-testhost-{name}")))
            .collect();
        cleanup_dir(&e.path(), true, &cgs);
    }
}

/// A network namespace joined to a host bridge by a veth pair, for SSH
/// test hosts (`Network::Namespace(ns.path())`). Removed on drop.
pub struct Netns {
    name: String,
    veth: String,
}

impl Netns {
    /// Create namespace `name` with `eth0` at `addr` (CIDR, e.g.
    /// `10.231.0.11/24`) on bridge `bridge` (created with `bridge_addr`
    /// if missing), default route via `gateway`.
    pub fn create(
        name: &str,
        bridge: &str,
        bridge_addr: &str,
        addr: &str,
        gateway: &str,
    ) -> io::Result<Netns> {
        let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
        if !Path::new(&format!("/sys/class/net/{bridge}")).exists() {
            ip(&["link", "add", bridge, "type", "bridge"])?;
            ip(&["addr", "add", bridge_addr, "dev", bridge])?;
            ip(&["link", "set", bridge, "up"])?;
        }
        ip(&["netns", "add", name])?;
        // interface names are limited to 15 bytes
        let veth: String = format!("v{}", name).chars().take(15).collect();
        let ns = Netns {
            name: name.to_string(),
            veth: veth.clone(),
        };
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", name,
        ])?;
        ip(&["link", "set", &veth, "master", bridge, "up"])?;
        let nsip = |args: &[&str]| {
            let mut v = vec!["netns", "exec", name, "ip"];
            v.extend_from_slice(args);
            ip(&v)
        };
        nsip(&["link", "set", "lo", "up"])?;
        nsip(&["addr", "add", addr, "dev", "eth0"])?;
        nsip(&["link", "set", "eth0", "up"])?;
        nsip(&["route", "add", "default", "via", gateway])?;
        Ok(ns)
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Write `data` to `path` inside a guest root, creating parents.
pub fn write_file(path: &Path, data: &[u8]) -> io::Result<()> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p)?;
    }
    let mut f = fs::File::create(path)?;
    f.write_all(data)
}
