//! `ox install --target [user@]host[:port]`: install a host onto another
//! machine over SSH (nixos-anywhere's job). The host is evaluated and
//! built here; the target (a rescue system with sshd, a shell, tar and
//! the disk tools) only runs this same `ox` binary, copied there:
//! `ox disko` on the layout shipped as JSON, `ox deploy-remote
//! missing/import` into the new root's store, and `ox install
//! --internal-activate`. docs/install.md.
//!
//! The transport and copy protocol are ox-deploy's; the disk plan is
//! ox-disko's (run by the remote ox). Nothing here talks to disks.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use ox_deploy::ssh::{Ssh, Target};
use ox_deploy::Phase;

use crate::disko_cmd::InstallArgs;

/// What `--json` prints (and the summary is made from).
#[derive(Default)]
struct Report {
    host: String,
    target: String,
    status: String,
    reason: Option<String>,
    toplevel: String,
    root: String,
    mode: String,
    closure_paths: usize,
    copied_paths: usize,
    copied_bytes: u64,
    ox_copied: bool,
    extra_files: usize,
    generation: Option<u64>,
    unmounted: bool,
    warnings: Vec<String>,
    seconds: Seconds,
}

#[derive(Default)]
struct Seconds {
    build: f64,
    connect: f64,
    disko: f64,
    base: f64,
    copy: f64,
    activate: f64,
    unmount: f64,
}

/// `[user@]host[:port]` (an IPv6 address in brackets: `[::1]:22`).
pub(crate) fn parse_target(s: &str, name: &str) -> Result<Target, String> {
    let bad = || {
        format!("error: --target `{s}`: expected [USER@]HOST[:PORT], e.g. root@192.0.2.7 or root@rescue:2222\n")
    };
    let (user, rest) = match s.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (u.to_string(), r),
        Some(_) => return Err(bad()),
        None => ("root".to_string(), s),
    };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, tail) = r.split_once(']').ok_or_else(bad)?;
        match tail.strip_prefix(':') {
            Some(p) => (h.to_string(), Some(p)),
            None if tail.is_empty() => (h.to_string(), None),
            None => return Err(bad()),
        }
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').ok_or_else(bad)?;
        (h.to_string(), Some(p))
    } else {
        (rest.to_string(), None)
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
        None => None,
    };
    Ok(Target {
        name: name.to_string(),
        host,
        user,
        port,
        ssh_options: Vec::new(),
        elevate: Default::default(),
    })
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn control_dir() -> Result<TempDir, String> {
    use std::os::unix::fs::DirBuilderExt;
    // short: a unix socket path is limited to 108 bytes
    let p = std::env::temp_dir().join(format!("ox-inst-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&p)
        .map_err(|e| format!("error: {}: {e}\n", p.display()))?;
    Ok(TempDir(p))
}

/// The phases as they happen, on stderr.
fn phase(n: usize, what: &str) {
    eprintln!("ox install [{n}/7] {what}");
}

pub fn run(a: InstallArgs) -> Result<ExitCode, String> {
    let t_all = Instant::now();
    let flake = a
        .flake
        .clone()
        .ok_or("error: ox install --target needs --flake REF#HOST\n")?;
    let root = a.root.clone();
    if !root.is_absolute() || root == Path::new("/") {
        return Err(format!(
            "error: --root {}: with --target, the new root is a directory on the target: give an absolute path other than / (e.g. /mnt)\n",
            root.display()
        ));
    }
    if a.images.is_some() {
        return Err("error: --images cannot be combined with --target\n".into());
    }
    let root_s = root.to_string_lossy().into_owned();
    // evaluated here: the target only gets the JSON
    let (host, _, layout_json) = crate::disko_cmd::host_layout_json(&flake, &a.include)?;
    let target_s = a.target.clone().unwrap_or_default();
    let mut target = parse_target(&target_s, &host)?;
    target.ssh_options = a.ssh_option.clone();
    for (what, p) in [("--base", &a.base), ("--extra-files", &a.extra_files)] {
        if let Some(p) = p {
            if !p.exists() {
                return Err(format!("error: {what} {}: does not exist\n", p.display()));
            }
        }
    }
    if let Some(x) = &a.extra_files {
        if !x.is_dir() {
            return Err(format!(
                "error: --extra-files {}: expected a directory (its contents go to / of the new system)\n",
                x.display()
            ));
        }
    }
    let mut r = Report {
        host: host.clone(),
        target: target.display(),
        status: "failed".into(),
        root: root_s.clone(),
        mode: a.mode.clone(),
        ..Default::default()
    };
    let res = install(&a, &flake, &host, &layout_json, &target, &mut r);
    if let Err(e) = &res {
        r.reason = Some(e.trim_end().trim_start_matches("error: ").to_string());
    }
    let total = t_all.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r.to_json()).unwrap_or_default()
        );
    }
    match res {
        Ok(()) => {
            if !a.json {
                summary(&r, total);
                if !r.toplevel.is_empty() && r.status == "installed" {
                    println!("{}", r.toplevel);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if a.json {
                eprint!("{e}");
                Ok(ExitCode::FAILURE)
            } else {
                Err(e)
            }
        }
    }
}

impl Report {
    fn to_json(&self) -> serde_json::Value {
        let s = &self.seconds;
        serde_json::json!({
            "host": self.host,
            "target": self.target,
            "status": self.status,
            "reason": self.reason,
            "toplevel": self.toplevel,
            "root": self.root,
            "mode": self.mode,
            "closurePaths": self.closure_paths,
            "copiedPaths": self.copied_paths,
            "copiedBytes": self.copied_bytes,
            "oxCopied": self.ox_copied,
            "extraFiles": self.extra_files,
            "generation": self.generation,
            "unmounted": self.unmounted,
            "warnings": self.warnings,
            "seconds": {
                "build": s.build, "connect": s.connect, "disko": s.disko, "base": s.base,
                "copy": s.copy, "activate": s.activate, "unmount": s.unmount,
            },
        })
    }
}

fn summary(r: &Report, total: f64) {
    let s = &r.seconds;
    eprintln!(
        "ox install: `{}` on {}: {} in {total:.1} s",
        r.host, r.target, r.status
    );
    if r.status == "dry-run" {
        if let Some(why) = &r.reason {
            eprintln!("  {why}");
        }
        return;
    }
    eprintln!(
        "  root {} (mode {}), toplevel {}",
        r.root, r.mode, r.toplevel
    );
    eprintln!(
        "  store: {} of {} closure path(s) copied ({:.1} MiB){}; extra files: {}",
        r.copied_paths,
        r.closure_paths,
        r.copied_bytes as f64 / 1048576.0,
        if r.ox_copied {
            ", ox binary copied"
        } else {
            ""
        },
        r.extra_files
    );
    eprintln!(
        "  generation {}; {}",
        r.generation.map_or("?".into(), |g| g.to_string()),
        if r.unmounted {
            "unmounted"
        } else {
            "left mounted (--no-unmount)"
        }
    );
    eprintln!(
        "  seconds: build {:.1}, connect {:.1}, disks {:.1}, base {:.1}, copy {:.1}, activate {:.1}, unmount {:.1}",
        s.build, s.connect, s.disko, s.base, s.copy, s.activate, s.unmount
    );
    for w in &r.warnings {
        eprintln!("  warning: {w}");
    }
    eprintln!("  no boot loader was installed (docs/install.md)");
}

fn remote_failed(target: &Target, what: &str, out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let err = err.trim_end();
    format!(
        "error: {what} on the target {} failed (exit {}){}\n",
        target.display(),
        out.status.code().unwrap_or(-1),
        if err.is_empty() {
            String::new()
        } else {
            format!(":\n{err}")
        }
    )
}

fn ssh_err(e: ox_deploy::Error) -> String {
    format!("error: {e}\n")
}

/// Runs `argv` on the target with `input` on stdin, copying its stderr
/// lines to ours (indented) as they come; returns the output.
fn run_streamed(
    ssh: &Ssh,
    argv: &[&str],
    input: Option<&mut dyn Read>,
) -> Result<std::process::Output, String> {
    let mut child = ssh.spawn(argv, false).map_err(ssh_err)?;
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(mut o) = stdout {
            let _ = o.read_to_end(&mut v);
        }
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut all = Vec::new();
        if let Some(e) = stderr {
            // from the remote's first `error:` on, the lines go into the
            // final error message instead of being shown twice
            let mut failed = false;
            for l in BufReader::new(e).split(b'\n').map_while(Result::ok) {
                failed = failed || l.starts_with(b"error:");
                if !failed {
                    eprintln!("  | {}", String::from_utf8_lossy(&l));
                }
                all.extend_from_slice(&l);
                all.push(b'\n');
            }
        }
        all
    });
    if let (Some(i), Some(mut w)) = (input, stdin.take()) {
        // a closed pipe means the remote stopped reading: its exit
        // status and stderr say why
        let _ = std::io::copy(i, &mut w);
    }
    drop(stdin);
    let status = child.wait().map_err(|e| format!("error: ssh: {e}\n"))?;
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if status.code() == Some(255) && stdout.is_empty() {
        return Err(ssh_err(ox_deploy::ssh::classify(
            &ssh.target,
            &String::from_utf8_lossy(&stderr),
        )));
    }
    Ok(std::process::Output {
        status,
        stdout,
        stderr,
    })
}

/// A local `tar -c` whose output feeds a remote `tar -x` into `dir`.
fn tar_to_remote(
    ssh: &Ssh,
    local: &mut Command,
    remote_tar_flags: &[&str],
    dir: &str,
    what: &str,
) -> Result<(), String> {
    let mut tar = local
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("error: running tar: {e}\n"))?;
    let mut out = tar.stdout.take().expect("piped");
    let mut argv = vec!["tar", "--numeric-owner", "-x"];
    argv.extend_from_slice(remote_tar_flags);
    argv.extend(["-f", "-", "-C", dir]);
    let o = run_streamed(ssh, &argv, Some(&mut out))?;
    let lo = tar
        .wait_with_output()
        .map_err(|e| format!("error: tar: {e}\n"))?;
    if !lo.status.success() {
        return Err(format!(
            "error: {what}: tar failed here: {}\n",
            String::from_utf8_lossy(&lo.stderr).trim_end()
        ));
    }
    if !o.status.success() {
        return Err(remote_failed(&ssh.target, what, &o));
    }
    Ok(())
}

/// The decompression flag GNU tar needs for `file` (it does not detect
/// compression on a pipe).
fn compression_flag(file: &Path) -> Result<Option<&'static str>, String> {
    let mut magic = [0u8; 6];
    let n = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|e| format!("error: {}: {e}\n", file.display()))?;
    let m = &magic[..n];
    Ok(if m.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("--zstd")
    } else if m.starts_with(&[0x1f, 0x8b]) {
        Some("--gzip")
    } else if m.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("--xz")
    } else if m.starts_with(b"BZh") {
        Some("--bzip2")
    } else {
        None
    })
}

fn install(
    a: &InstallArgs,
    flake: &str,
    host: &str,
    layout_json: &serde_json::Value,
    target: &Target,
    r: &mut Report,
) -> Result<(), String> {
    let root = a.root.to_string_lossy().into_owned();
    // 1. build here first: a host that does not build changes nothing
    // on the target
    phase(1, &format!("building `{host}`"));
    let t = Instant::now();
    let top = crate::activate_cmd::build_host(flake)?;
    r.seconds.build = t.elapsed().as_secs_f64();
    r.toplevel = top.to_string_lossy().into_owned();
    let store = crate::build_cmd::open_store(None)?;
    let top_sp = store
        .parse(&r.toplevel)
        .map_err(|e| format!("error: {e}\n"))?;
    let closure = ox_deploy::archive::closure_in_order(&store, std::slice::from_ref(&top_sp))
        .map_err(ssh_err)?;
    r.closure_paths = closure.len();
    r.warnings.extend(crate::install_keys::check(
        &store,
        &store.real_path(&top_sp),
        a.extra_files.as_deref(),
    ));
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }

    // 2. connect, check the machine, put this ox there
    phase(2, &format!("connecting to {}", target.display()));
    let t = Instant::now();
    let ctl = control_dir()?;
    let ssh = Ssh::connect(target, &ctl.0).map_err(ssh_err)?;
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let ox_remote = ox_deploy::deploy::remote_ox_path(&exe).map_err(ssh_err)?;
    let probe = ssh
        .run(
            &[
                "sh",
                "-c",
                "if test -x \"$1\"; then echo present; else echo absent; fi; uname -m",
                "sh",
                &ox_remote,
            ],
            None,
            false,
        )
        .map_err(ssh_err)?;
    if !probe.status.success() {
        return Err(remote_failed(target, "probing", &probe));
    }
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    let mut lines = text.lines();
    let have_ox = lines.next() == Some("present");
    let arch = lines.next().unwrap_or("").trim().to_string();
    if arch != std::env::consts::ARCH {
        return Err(format!(
            "error: the target {} is a `{arch}` machine; expected {} like this ox binary\n",
            target.display(),
            std::env::consts::ARCH
        ));
    }
    if !have_ox {
        let size = std::fs::metadata(&exe).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "  copying ox ({:.0} MiB) to {ox_remote}",
            size as f64 / 1048576.0
        );
        ox_deploy::deploy::upload_binary(&ssh, &exe, &ox_remote, &|_| {}).map_err(ssh_err)?;
        r.ox_copied = true;
    }
    r.seconds.connect = t.elapsed().as_secs_f64();
    let ox = ox_remote.as_str();
    let layout_text = serde_json::to_string(layout_json).map_err(|e| e.to_string())?;
    let disko_argv = |mode: &str, extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            ox,
            "disko",
            "--layout-json",
            "-",
            "--layout-host",
            host,
            "--mode",
            mode,
            "--root-mountpoint",
            &root,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    // 3. the disks, planned and run by the target's ox
    let t = Instant::now();
    if a.dry_run {
        phase(3, &format!("disk plan on {} (dry run)", target.display()));
        let argv = disko_argv(&a.mode, &["--dry-run"]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = run_streamed(&ssh, &argv, Some(&mut layout_text.as_bytes()))?;
        if !o.status.success() {
            return Err(remote_failed(target, "planning the disks", &o));
        }
        print!("{}", String::from_utf8_lossy(&o.stdout));
        r.status = "dry-run".into();
        r.reason = Some(format!(
            "would run the plan above, copy {} closure path(s) into {root}/ox/store and install generation 1; nothing changed on the target{}",
            closure.len(),
            if have_ox { "" } else { " (ox was copied there to plan)" }
        ));
        return Ok(());
    }
    phase(
        3,
        &format!(
            "disks on {} (mode {}, root {root})",
            target.display(),
            a.mode
        ),
    );
    let argv = disko_argv(
        &a.mode,
        if a.yes_wipe_all_disks {
            &["--yes-wipe-all-disks"]
        } else {
            &[]
        },
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut o = run_streamed(&ssh, &argv, Some(&mut layout_text.as_bytes()))?;
    let refused = |o: &std::process::Output| {
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("refusing to wipe")
    };
    if refused(&o) && std::io::stdin().is_terminal() {
        // the target has no terminal: its refusal lists the disks, and
        // the question is asked here; `yes` runs the plan again with
        // the flag (the target's ox plans anew and checks again)
        let text = String::from_utf8_lossy(&o.stderr).into_owned();
        eprintln!("ox install: on {}, this will ERASE:", target.display());
        for l in text.lines().filter(|l| l.starts_with("  ")) {
            eprintln!("{l}");
        }
        if crate::disko_cmd::ask_yes("Type `yes` to erase them: ") {
            let mut argv = argv.clone();
            argv.push("--yes-wipe-all-disks");
            o = run_streamed(&ssh, &argv, Some(&mut layout_text.as_bytes()))?;
        }
    }
    if !o.status.success() {
        let mut e = remote_failed(target, "partitioning/formatting/mounting the disks", &o);
        if refused(&o) {
            e.push_str(
                "(pass --yes-wipe-all-disks to wipe them, or run on a terminal and type `yes`)\n",
            );
        }
        return Err(e);
    }
    r.seconds.disko = t.elapsed().as_secs_f64();

    // 4. a Debian base, then the extra files (before activation, so
    // it sees e.g. the host key)
    let t = Instant::now();
    if let Some(b) = &a.base {
        phase(
            4,
            &format!("unpacking the base system {} into {root}", b.display()),
        );
        if b.is_dir() {
            let mut c = Command::new("tar");
            c.arg("--numeric-owner")
                .arg("-C")
                .arg(b)
                .args(["-cf", "-", "."]);
            tar_to_remote(&ssh, &mut c, &["-p"], &root, "unpacking the base system")?;
        } else {
            let flag = compression_flag(b)?;
            let mut c = Command::new("cat");
            c.arg(b);
            let mut flags = vec!["-p"];
            flags.extend(flag);
            tar_to_remote(&ssh, &mut c, &flags, &root, "unpacking the base system")?;
        }
    } else {
        phase(4, "no --base: using what the new root holds");
    }
    if let Some(x) = &a.extra_files {
        r.extra_files = walk_files(x);
        eprintln!(
            "  copying {} extra file(s) from {} into {root}",
            r.extra_files,
            x.display()
        );
        let mut c = Command::new("tar");
        c.args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
            .arg(x)
            .args(["-cf", "-", "."]);
        // -p keeps the modes (a private key stays 0600); `.` itself is
        // not restored over the new root's /
        tar_to_remote(
            &ssh,
            &mut c,
            &["-p", "--no-overwrite-dir"],
            &root,
            "copying the extra files",
        )?;
    }
    let chk = ssh
        .run(&["test", "-e", &format!("{root}/etc/passwd")], None, false)
        .map_err(ssh_err)?;
    if !chk.status.success() {
        return Err(format!(
            "error: {root} on the target {} has no base system (no /etc/passwd): pass --base DIR|TARBALL (e.g. a debootstrap'd Debian); the disks are formatted and mounted there, nothing else was installed\n",
            target.display()
        ));
    }
    r.seconds.base = t.elapsed().as_secs_f64();

    // 5. the closure, into the new root's store (not the rescue
    // system's): the same protocol as ox deploy, with a store root
    phase(5, &format!("copying the closure into {root}/ox/store"));
    let t = Instant::now();
    let store_root = format!("OX_STORE_ROOT={root}");
    let list: String = closure
        .iter()
        .map(|i| format!("{}\n", store.print(&i.path)))
        .collect();
    let out = ssh
        .run(
            &["env", &store_root, ox, "deploy-remote", "missing"],
            Some(list.as_bytes()),
            false,
        )
        .map_err(ssh_err)?;
    if !out.status.success() {
        return Err(remote_failed(target, "asking for missing paths", &out));
    }
    let missing: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let send: Vec<_> = closure
        .into_iter()
        .filter(|i| missing.contains(&store.print(&i.path)))
        .collect();
    let total: u64 = send.iter().map(|i| i.nar_size).sum();
    if !send.is_empty() {
        let last = std::sync::Mutex::new(Instant::now());
        let progress = |p: Phase| {
            if let Phase::Copy { paths, total, sent } = p {
                let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
                if l.elapsed().as_secs_f64() >= 1.0 || sent == total {
                    *l = Instant::now();
                    eprintln!(
                        "  {paths} path(s): {:.1} of {:.1} MiB",
                        sent as f64 / 1048576.0,
                        total as f64 / 1048576.0
                    );
                }
            }
        };
        let rep = ox_deploy::deploy::copy_paths(
            &ssh,
            &store,
            &send,
            total,
            &["env", &store_root, ox, "deploy-remote", "import"],
            &progress,
        )
        .map_err(ssh_err)?;
        if rep.imported + rep.already_valid != send.len() {
            return Err(format!(
                "error: the target imported {} of {} paths\n",
                rep.imported + rep.already_valid,
                send.len()
            ));
        }
        r.copied_paths = rep.imported;
    }
    r.copied_bytes = total;
    eprintln!(
        "  copied {} of {} path(s) ({:.1} MiB)",
        r.copied_paths,
        r.closure_paths,
        total as f64 / 1048576.0
    );
    r.seconds.copy = t.elapsed().as_secs_f64();

    // 6. ox into the new root, then generation 1 and /etc, by the
    // target's ox exactly as a local `ox install` does it
    phase(6, &format!("installing generation 1 into {root}"));
    let t = Instant::now();
    let o = ssh
        .run(
            &[
                "sh",
                "-c",
                "set -e; mkdir -p \"$2/usr/local/bin\"; cp \"$1\" \"$2/usr/local/bin/ox.tmp\"; \
                 mv -f \"$2/usr/local/bin/ox.tmp\" \"$2/usr/local/bin/ox\"",
                "sh",
                ox,
                &root,
            ],
            None,
            false,
        )
        .map_err(ssh_err)?;
    if !o.status.success() {
        return Err(remote_failed(target, "copying ox into the new root", &o));
    }
    let real_store = format!("{root}{}", store.dir.as_str());
    let o = run_streamed(
        &ssh,
        &[
            ox,
            "install",
            "--internal-activate",
            &r.toplevel,
            "--internal-store",
            &real_store,
            "--root",
            &root,
        ],
        None,
    )?;
    if !o.status.success() {
        return Err(remote_failed(target, "activating generation 1", &o));
    }
    let o = ssh
        .run(
            &["readlink", &format!("{root}/ox/var/profiles/system")],
            None,
            false,
        )
        .map_err(ssh_err)?;
    r.generation = String::from_utf8_lossy(&o.stdout)
        .trim()
        .strip_prefix("system-")
        .and_then(|s| s.strip_suffix("-link"))
        .and_then(|n| n.parse().ok());
    r.seconds.activate = t.elapsed().as_secs_f64();

    // 7. unmount, so the disks can be booted (or detached)
    let t = Instant::now();
    if a.no_unmount {
        phase(7, &format!("leaving {root} mounted (--no-unmount)"));
    } else {
        phase(7, &format!("unmounting {root}"));
        let argv = disko_argv("unmount", &[]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = run_streamed(&ssh, &argv, Some(&mut layout_text.as_bytes()))?;
        if !o.status.success() {
            return Err(remote_failed(target, "unmounting", &o));
        }
        r.unmounted = true;
    }
    r.seconds.unmount = t.elapsed().as_secs_f64();
    r.status = "installed".into();
    let _ = std::io::stderr().flush();
    Ok(())
}

fn walk_files(dir: &Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => n += walk_files(&p),
                Ok(_) => n += 1,
                Err(_) => {}
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn targets() {
        let t = parse_target("root@10.0.0.5", "h").unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("root", "10.0.0.5", None)
        );
        let t = parse_target("admin@rescue:2222", "h").unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("admin", "rescue", Some(2222))
        );
        let t = parse_target("box", "h").unwrap();
        assert_eq!((t.user.as_str(), t.host.as_str()), ("root", "box"));
        let t = parse_target("root@[fd00::2]:22", "h").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fd00::2", Some(22)));
        let t = parse_target("fd00::2", "h").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("fd00::2", None));
        assert!(parse_target("root@host:port", "h").is_err());
        assert!(parse_target("@host", "h").is_err());
        assert!(parse_target("root@", "h").is_err());
    }
}
