//! `ox deploy` rollout policy against real sshd in three Debian
//! containers: `--batch` waves that activate one after the other,
//! `--canary` hosts that go first and stop the rest when they fail,
//! `--max-failures` across waves, `--all-or-nothing` taking confirmed
//! earlier waves back; every host's end state and the exit status.

mod deploy_support;
use deploy_support::{common, host_nix, host_report, Fleet};

use std::path::PathBuf;
use std::time::SystemTime;

/// The newest activation job on a host: when it started (job.json
/// written) and when it last changed state (state.json), from the
/// container's files as the test machine sees them.
fn last_job(h: &ox_testhost::Host) -> (SystemTime, SystemTime) {
    let dir = h.path("/ox/var/deploy");
    let mut jobs: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("job.json").exists())
        .map(|p| {
            (
                std::fs::metadata(p.join("job.json"))
                    .unwrap()
                    .modified()
                    .unwrap(),
                p,
            )
        })
        .collect();
    jobs.sort();
    let (started, p) = jobs.pop().expect("a job on the host");
    let ended = std::fs::metadata(p.join("state.json"))
        .unwrap()
        .modified()
        .unwrap();
    (started, ended)
}

fn states(j: &serde_json::Value) -> Vec<(String, String, u64)> {
    j["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_string(),
                h["state"].as_str().unwrap_or("?").to_string(),
                h["wave"].as_u64().unwrap_or(99),
            )
        })
        .collect()
}

fn row(h: &str, s: &str, w: u64) -> (String, String, u64) {
    (h.to_string(), s.to_string(), w)
}

#[test]
fn batches_canaries_and_all_or_nothing_across_waves() {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let fleet = Fleet::boot("deploy-policy", 3);
    let flake = fleet.flake();
    let names = ["dep-a", "dep-b", "dep-c"];
    // `broken`: hosts whose generation has a unit that fails to start
    let write = |gen: &str, broken: &[&str]| {
        std::fs::write(flake.join("common.nix"), common(gen, "")).unwrap();
        for (i, n) in names.iter().enumerate() {
            let extra = if broken.contains(n) {
                "systemd.services.broken = { wantedBy = [ \"multi-user.target\" ]; \
                 serviceConfig.Type = \"oneshot\"; script = \"exit 3\"; };"
            } else {
                ""
            };
            std::fs::write(
                flake.join(format!("hosts/{n}.nix")),
                host_nix(n, &fleet.addr(i), "", extra),
            )
            .unwrap();
        }
        // nothing listens there
        std::fs::write(
            flake.join("hosts/a-ghost.nix"),
            host_nix("a-ghost", &fleet.nowhere(), "", ""),
        )
        .unwrap();
    };
    let gen_of = |i: usize| fleet.hosts[i].sh_expect("cat /etc/deploy-generation");
    let d = fleet.deployer(&flake);

    // 1. one host per wave: each activates only after the one before is
    // confirmed (its job ended `done` before the next job started)
    write("1", &[]);
    let (out, j) = d.deploy(&["dep-a", "dep-b", "dep-c", "--batch", "1"]);
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    assert_eq!(
        states(&j),
        vec![
            row("dep-a", "switched", 0),
            row("dep-b", "switched", 1),
            row("dep-c", "switched", 2)
        ]
    );
    assert_eq!(j["waves"], 3);
    let jobs: Vec<_> = (0..3).map(|i| last_job(&fleet.hosts[i])).collect();
    for w in 1..3 {
        assert!(
            jobs[w].0 >= jobs[w - 1].1,
            "wave {w} started before wave {} ended: {jobs:?}",
            w - 1
        );
    }
    for i in 0..3 {
        assert_eq!(gen_of(i), "1");
    }

    // 2. the same generation again, in waves of 50% (2 + 1): nothing
    // changed anywhere, and that is what the hosts report
    let (out, j) = d.deploy(&["dep-a", "dep-b", "dep-c", "--batch", "50%"]);
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    assert_eq!(
        states(&j),
        vec![
            row("dep-a", "unchanged", 0),
            row("dep-b", "unchanged", 0),
            row("dep-c", "unchanged", 1)
        ]
    );
    assert_eq!(j["state"], "unchanged");
    let table = d
        .command(&["dep-a", "--batch", "1"])
        .output()
        .expect("ox deploy");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("dep-a") && l.contains(" unchanged ")),
        "{text}"
    );

    // 3. the canary's new generation fails: it rolls back, the others
    // were built and copied ahead but never activated
    write("2", &["dep-b"]);
    let (out, j) = d.deploy(&[
        "dep-a",
        "dep-b",
        "dep-c",
        "--canary",
        "dep-b",
        "--confirm-timeout",
        "20",
    ]);
    assert_eq!(out.status.code(), Some(3), "worst is rolled-back: {j:#}");
    assert_eq!(
        states(&j),
        vec![
            row("dep-a", "skipped", 1),
            row("dep-b", "rolled-back", 0),
            row("dep-c", "skipped", 1)
        ]
    );
    let ra = host_report(&j, "dep-a");
    let reason = ra["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("not activated") && reason.contains("before wave 2"),
        "{reason}"
    );
    assert!(
        ra["copiedPaths"].as_u64().unwrap() > 0,
        "copied ahead: {ra:#}"
    );
    for i in 0..3 {
        assert_eq!(gen_of(i), "1", "host {i}");
    }

    // 4. a healthy canary (the first selected host), then one per wave
    write("2", &[]);
    let (out, j) = d.deploy(&["dep-a", "dep-b", "dep-c", "--canary", "1", "--batch", "1"]);
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    assert_eq!(
        states(&j),
        vec![
            row("dep-a", "switched", 0),
            row("dep-b", "switched", 1),
            row("dep-c", "switched", 2)
        ]
    );
    for i in 0..3 {
        assert_eq!(gen_of(i), "2");
    }

    // 5. an unreachable host in the first wave stops the later waves;
    // with --max-failures 2 they go on
    write("3", &[]);
    let (out, j) = d.deploy(&["a-ghost", "dep-a", "dep-b", "--batch", "1"]);
    assert_eq!(out.status.code(), Some(4), "{j:#}");
    assert_eq!(
        states(&j),
        vec![
            row("a-ghost", "failed-before-activation", 0),
            row("dep-a", "skipped", 1),
            row("dep-b", "skipped", 2)
        ]
    );
    assert_eq!(gen_of(0), "2");
    assert_eq!(gen_of(1), "2");
    let (out, j) = d.deploy(&[
        "a-ghost",
        "dep-a",
        "dep-b",
        "--batch",
        "1",
        "--max-failures",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(4), "{j:#}");
    assert_eq!(
        states(&j),
        vec![
            row("a-ghost", "failed-before-activation", 0),
            row("dep-a", "switched", 1),
            row("dep-b", "switched", 2)
        ]
    );
    assert_eq!(gen_of(0), "3");
    assert_eq!(gen_of(1), "3");
    assert_eq!(gen_of(2), "2");

    // 6. --all-or-nothing across waves: the last wave fails, so the two
    // waves before it, already switched and confirmed, are taken back:
    // live and boot default on the generation each ran before
    let before: Vec<String> = (0..3)
        .map(|i| fleet.hosts[i].sh_expect("readlink /run/ox/current-system"))
        .collect();
    write("4", &["dep-c"]);
    let (out, j) = d.deploy(&[
        "dep-a",
        "dep-b",
        "dep-c",
        "--batch",
        "1",
        "--all-or-nothing",
        "--confirm-timeout",
        "20",
    ]);
    assert_eq!(out.status.code(), Some(3), "{j:#}");
    assert_eq!(
        states(&j),
        vec![
            row("dep-a", "rolled-back", 0),
            row("dep-b", "rolled-back", 1),
            row("dep-c", "rolled-back", 2)
        ]
    );
    let reason = host_report(&j, "dep-a")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("taken back") && reason.contains("dep-c"),
        "{reason}"
    );
    for (i, prev) in before.iter().enumerate() {
        let h = &fleet.hosts[i];
        assert_eq!(
            &h.sh_expect("readlink /run/ox/current-system"),
            prev,
            "host {i}"
        );
        assert_eq!(
            &h.sh_expect("readlink -f /ox/var/profiles/system"),
            prev,
            "host {i}"
        );
        assert_eq!(h.unit_state("deploy-gen-4.service"), "inactive", "host {i}");
    }
    assert_eq!(gen_of(0), "3");
    assert_eq!(gen_of(2), "2");

    drop(fleet);
}

/// Every process's command line and environment, as one string each
/// (the test runs as root: it sees the containers' processes too).
fn proc_snapshot() -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        for f in ["cmdline", "environ"] {
            if let Ok(b) = std::fs::read(e.path().join(f)) {
                v.push(String::from_utf8_lossy(&b).replace('\0', " "));
            }
        }
    }
    v
}

#[test]
fn sudo_password_is_checked_first_and_travels_only_on_stdin() {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    const PW: &str = "ox-Elev8-pw-7731";
    let fleet = Fleet::boot("deploy-elevate", 2);
    // dep-a: `deployer` needs its password for sudo; dep-b: `nopass`
    // has a NOPASSWD rule (and is never sent the password)
    for (i, host, user, rule) in [
        (0, "dep-a", "deployer", "ALL"),
        (1, "dep-b", "nopass", "NOPASSWD: ALL"),
    ] {
        fleet.hosts[i].sh_expect(&format!(
            // sudo resolves the running hostname (no DNS in here: map it)
            "hostname {host} && echo '127.0.1.1 {host}' >> /etc/hosts && useradd -m {user} && echo '{user}:{PW}' | chpasswd && \
             install -d -o {user} -m 700 /home/{user}/.ssh && \
             echo '{key}' > /home/{user}/.ssh/authorized_keys && \
             chown {user} /home/{user}/.ssh/authorized_keys && \
             echo '{user} ALL=(ALL) {rule}' > /etc/sudoers.d/{user}",
            key = fleet.pubkey.trim()
        ));
    }
    let flake = fleet.flake();
    std::fs::write(flake.join("common.nix"), common("1", "")).unwrap();
    for (i, host, user) in [(0, "dep-a", "deployer"), (1, "dep-b", "nopass")] {
        std::fs::write(
            flake.join(format!("hosts/{host}.nix")),
            host_nix(
                host,
                &fleet.addr(i),
                "",
                &format!("deployment.targetUser = \"{user}\"; deployment.elevate = \"sudo\";"),
            ),
        )
        .unwrap();
    }
    let d = fleet.deployer(&flake);
    let pwfile = fleet.work.join("pw");
    let no_toplevel = |j: &serde_json::Value, h: &str| {
        assert_eq!(
            host_report(j, h)["toplevel"],
            "",
            "built although refused: {j:#}"
        );
    };

    // 1. no password given: refused up front, before building, with the fix
    let (out, j) = d.deploy(&["dep-a", "dep-b"]);
    assert_eq!(out.status.code(), Some(4), "{j:#}");
    let r = host_report(&j, "dep-a");
    assert_eq!(r["state"], "failed-before-activation", "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("dep-a")
            && reason.contains("`sudo` needs a password for user `deployer`")
            && reason.contains("--ask-elevate-password"),
        "{reason}"
    );
    no_toplevel(&j, "dep-a");
    // the NOPASSWD host is deployed as before
    assert_eq!(host_report(&j, "dep-b")["state"], "switched", "{j:#}");

    // 2. a wrong password: that host fails early, named with user and tool
    std::fs::write(&pwfile, "not-the-password\n").unwrap();
    let pwarg = pwfile.to_str().unwrap();
    let (out, j) = d.deploy(&["dep-a", "--elevate-password-file", pwarg]);
    assert_eq!(out.status.code(), Some(4), "{j:#}");
    let r = host_report(&j, "dep-a");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("dep-a (deployer@")
            && reason.contains("sudo refused the password for user `deployer`"),
        "{reason}"
    );
    no_toplevel(&j, "dep-a");
    assert!(!fleet.hosts[0].path("/etc/deploy-generation").exists());

    // 3. the right one, from a file (as automation would): both hosts
    // switch; meanwhile no process anywhere has it in its arguments or
    // environment
    std::fs::write(&pwfile, format!("{PW}\n")).unwrap();
    std::fs::write(flake.join("common.nix"), common("2", "")).unwrap();
    let mut c = d.command(&["dep-a", "dep-b", "--json", "--elevate-password-file", pwarg]);
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (out, leaks, snapshots) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut leaks = Vec::new();
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                for p in proc_snapshot() {
                    if p.contains(PW) {
                        leaks.push(p);
                    }
                }
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            (leaks, n)
        });
        let out = child.wait_with_output().unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let (leaks, n) = watcher.join().unwrap();
        (out, leaks, n)
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(snapshots > 10, "only {snapshots} snapshots of /proc");
    assert!(leaks.is_empty(), "the password in a process: {leaks:?}");
    assert!(!stdout.contains(PW) && !stderr.contains(PW));
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for (i, h) in ["dep-a", "dep-b"].iter().enumerate() {
        assert_eq!(host_report(&j, h)["state"], "switched", "{j:#}");
        let host = &fleet.hosts[i];
        assert_eq!(host.sh_expect("cat /etc/deploy-generation"), "2");
        assert_eq!(host.sh_expect("stat -c %U /ox/var/deploy/bin"), "root");
        // nor in what the host kept of the deploy
        assert_eq!(
            host.sh_expect(&format!(
                "grep -rlF -- '{PW}' /ox/var/deploy /run/ox 2>/dev/null | wc -l"
            )),
            "0"
        );
    }

    // 4. --ask-elevate-password on a terminal (a pty from `script`): the
    // prompt comes once, the typed password is not echoed
    std::fs::write(flake.join("common.nix"), common("3", "")).unwrap();
    let inner = d.command(&["dep-a", "--ask-elevate-password"]);
    let line: Vec<String> = std::iter::once(inner.get_program())
        .chain(inner.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
        .collect();
    let mut c = std::process::Command::new("script");
    c.args(["-qefc", &line.join(" "), "/dev/null"]);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut b = [0u8; 1];
    // type only once the prompt is there (echo is off by then)
    while !String::from_utf8_lossy(&seen).contains("password for sudo") {
        let n = std::io::Read::read(&mut stdout, &mut b).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.push(b[0]);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{PW}\n").as_bytes()).unwrap();
        // keep the pty open until ox is done: script ends with its child
        std::io::Read::read_to_end(&mut stdout, &mut seen).unwrap();
        drop(stdin);
    }
    let st = child.wait().unwrap();
    let text = String::from_utf8_lossy(&seen);
    eprintln!("{text}");
    assert!(st.success(), "{text}");
    assert!(!text.contains(PW), "echoed: {text}");
    assert_eq!(text.matches("password for sudo").count(), 1, "{text}");
    assert_eq!(fleet.hosts[0].sh_expect("cat /etc/deploy-generation"), "3");
    drop(fleet);
}
