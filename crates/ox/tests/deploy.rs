//! `ox deploy` against real sshd: two Debian containers, each in its own
//! network namespace with sshd, deployed in parallel from a two-host
//! flake; a second deploy copies nothing; a configuration that moves
//! sshd away makes the host roll back by itself; a host key mismatch,
//! an unreachable host and an unknown host are clear errors that change
//! nothing.

use ox_testhost::testsupport::Scratch;
use std::os::unix::process::CommandExt;

mod deploy_support;
use deploy_support::{common, host_nix, host_report, Deployer, Fleet, FLAKE};

#[test]
fn unknown_host_is_refused_before_anything_happens() {
    let work = Scratch::new("deploy-unknown");
    let flake = work.join("fleet");
    std::fs::create_dir_all(flake.join("hosts")).unwrap();
    std::fs::write(flake.join("flake.nix"), FLAKE).unwrap();
    std::fs::write(flake.join("common.nix"), common("1", "")).unwrap();
    std::fs::write(flake.join("deploy-file.txt"), "from the flake\n").unwrap();
    std::fs::write(
        flake.join("hosts/alpha.nix"),
        host_nix("alpha", "192.0.2.1", "", ""),
    )
    .unwrap();
    let d = Deployer {
        work: work.to_path_buf(),
        flake: flake.clone(),
        key: work.join("nokey"),
        known_hosts: work.join("known_hosts"),
    };
    let (out, _) = d.deploy(&["alhpa"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unknown host `alhpa`") && err.contains("hosts: alpha"),
        "{err}"
    );
    // a tag nobody has, and no selection at all
    let (out, _) = d.deploy(&["--on", "@nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("@nope"), "{err}");
    let (out, _) = d.deploy(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no hosts selected"),
        "{err}"
    );
    // nothing was built: no toplevel in the store
    let store = work.join("root/ox/store");
    let built = std::fs::read_dir(&store)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().contains("ox-system-"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(built, 0, "a refused deploy built something");
}

#[test]
fn fleet_deploy_copies_only_what_is_missing_and_rolls_back_without_ssh() {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    // two hosts, each in a network namespace on a bridge of this test's own
    let fleet = Fleet::boot("deploy", 2);
    let net = fleet.net;
    let addr = |n: u32| format!("10.234.{net}.{n}");
    let (a, b) = (&fleet.hosts[0], &fleet.hosts[1]);
    let hostkey = |h: &ox_testhost::Host| {
        std::fs::read_to_string(h.path("/etc/ssh/ssh_host_ed25519_key.pub"))
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let known = fleet.known.clone();
    let pubkey = fleet.pubkey.clone();
    let flake = fleet.flake();
    let write_hosts = |a_extra: &str| {
        std::fs::write(
            flake.join("hosts/dep-a.nix"),
            host_nix("dep-a", &addr(11), "\"web\"", a_extra),
        )
        .unwrap();
        std::fs::write(
            flake.join("hosts/dep-b.nix"),
            host_nix("dep-b", &addr(12), "\"db\"", ""),
        )
        .unwrap();
        // nothing listens there: the unreachable host
        std::fs::write(
            flake.join("hosts/a-ghost.nix"),
            host_nix("a-ghost", &addr(99), "\"ghost\"", ""),
        )
        .unwrap();
    };
    write_hosts("");
    std::fs::write(flake.join("common.nix"), common("1", "")).unwrap();
    let d = fleet.deployer(&flake);

    // 1. both hosts in parallel
    let (out, j) = d.deploy(&["dep-a", "dep-b", "--confirm-timeout", "20"]);
    assert!(out.status.success(), "first deploy failed: {j:#}");
    for (h, name) in [(a, "dep-a"), (b, "dep-b")] {
        let r = host_report(&j, name);
        assert_eq!(r["status"], "done", "{r:#}");
        assert_eq!(r["oxCopied"], true, "{r:#}");
        assert!(r["copiedPaths"].as_u64().unwrap() > 0, "{r:#}");
        assert_eq!(h.sh_expect("cat /etc/deploy-generation"), "1");
        assert_eq!(h.sh_expect("cat /etc/deploy-text"), "from the store");
        assert_eq!(h.sh_expect("cat /etc/deploy-file"), "from the flake");
        assert_eq!(h.sh_expect("cat /etc/hostname"), name);
        assert_eq!(h.unit_state("deploy-gen-1.service"), "active");
        // switch: active and the boot default
        let top = r["toplevel"].as_str().unwrap();
        assert_eq!(h.sh_expect("readlink /run/ox/current-system"), top);
        assert_eq!(h.sh_expect("readlink -f /ox/var/profiles/system"), top);
        assert!(h.sh_expect("grep -c '^Port 22$' /etc/ssh/sshd_config") == "1");
    }
    let gen1_a = host_report(&j, "dep-a")["toplevel"]
        .as_str()
        .unwrap()
        .to_string();

    // 2. again: nothing to copy, not even ox
    let (out, j) = d.deploy(&["--on", "dep-*", "--confirm-timeout", "20"]);
    assert!(out.status.success(), "second deploy failed: {j:#}");
    for name in ["dep-a", "dep-b"] {
        let r = host_report(&j, name);
        assert_eq!(r["status"], "done", "{r:#}");
        assert_eq!(r["copiedPaths"], 0, "{r:#}");
        assert_eq!(r["oxCopied"], false, "{r:#}");
    }
    assert!(j["hosts"].as_array().unwrap().len() == 2, "{j:#}");

    // 3. a new generation for the hosts tagged `web` only
    std::fs::write(flake.join("common.nix"), common("2", "")).unwrap();
    let (out, j) = d.deploy(&["--on", "@web", "--confirm-timeout", "20"]);
    assert!(out.status.success(), "tagged deploy failed: {j:#}");
    assert_eq!(j["hosts"].as_array().unwrap().len(), 1, "{j:#}");
    let r = host_report(&j, "dep-a");
    let gen2_a = r["toplevel"].as_str().unwrap().to_string();
    let copied = r["copiedPaths"].as_u64().unwrap();
    let closure = r["closurePaths"].as_u64().unwrap();
    assert!(copied > 0 && copied < closure, "{r:#}");
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "2");
    assert_eq!(a.unit_state("deploy-gen-2.service"), "active");
    assert_eq!(a.unit_state("deploy-gen-1.service"), "inactive");
    assert_eq!(b.sh_expect("cat /etc/deploy-generation"), "1");
    assert_ne!(gen1_a, gen2_a);

    // 4. a configuration that moves sshd to another port: the deployer
    // cannot log in again, the host rolls back by itself
    std::fs::write(flake.join("common.nix"), common("3", "")).unwrap();
    write_hosts("services.openssh.ports = [ 2222 ];");
    let (out, j) = d.deploy(&["dep-a", "--confirm-timeout", "5"]);
    assert!(
        !out.status.success(),
        "a rolled-back deploy must fail: {j:#}"
    );
    let r = host_report(&j, "dep-a");
    assert_eq!(r["status"], "rolled-back", "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no confirmation within 5 s"), "{reason}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rolled-back: no confirmation"), "{err}");
    assert_eq!(out.status.code(), Some(3), "rolled-back exits 3");
    assert_eq!(j["state"], "rolled-back", "{j:#}");
    assert_eq!(r["state"], "rolled-back", "{r:#}");
    assert!(err.contains("deploy failed on: dep-a"), "{err}");
    // back on generation 2, sshd on port 22 again, boot default untouched
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "2");
    assert_eq!(a.sh_expect("readlink /run/ox/current-system"), gen2_a);
    assert_eq!(a.sh_expect("readlink -f /ox/var/profiles/system"), gen2_a);
    assert_eq!(
        a.sh_expect("grep -c '^Port 2222$' /etc/ssh/sshd_config || true"),
        "0"
    );
    assert_eq!(a.unit_state("deploy-gen-2.service"), "active");
    assert_eq!(a.unit_state("deploy-gen-3.service"), "inactive");
    // and a normal deploy works again
    write_hosts("");
    std::fs::write(flake.join("common.nix"), common("2", "")).unwrap();
    let (out, j) = d.deploy(&["dep-a", "--confirm-timeout", "20"]);
    assert!(out.status.success(), "deploy after the rollback: {j:#}");

    // 4b. the deployer dies while the host activates: the job runs on
    // (it belongs to the host's systemd, not to the SSH session) and,
    // with nobody left to confirm, the host rolls back by itself
    let gen2_again = a.sh_expect("readlink /run/ox/current-system");
    std::fs::write(flake.join("common.nix"), common("5", "")).unwrap();
    let mut child = d
        .command(&["dep-a", "--confirm-timeout", "5"])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let mut seen = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap())) {
        let line = line.unwrap();
        seen.push(line.clone());
        // the remote job has started once its output comes back
        if line.contains("activate: ") {
            // SAFETY: signalling the process group this test created
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            break;
        }
    }
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains("activate: ")),
        "the deploy never reached the activation: {seen:?}"
    );
    let job = (0..300)
        .find_map(|_| {
            let s = a.sh_expect("for d in $(ls -td /ox/var/deploy/*/ 2>/dev/null); do test -f $d/job.json && { cat $d/state.json; echo; grep -c deploy-gen-5 $d/log || true; break; }; done",
            );
            if s.contains("rolled-back") {
                return Some(s);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            None
        })
        .expect("the host did not roll back by itself");
    assert!(job.contains("no confirmation within 5 s"), "{job}");
    assert!(
        !job.ends_with("\n0"),
        "the job never activated generation 5: {job}"
    );
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "2");
    assert_eq!(a.sh_expect("readlink /run/ox/current-system"), gen2_again);
    assert_eq!(
        a.sh_expect("readlink -f /ox/var/profiles/system"),
        gen2_again
    );
    assert_eq!(a.unit_state("deploy-gen-5.service"), "inactive");

    // 4b'. a unit of the new generation fails to start: activation exits
    // 4 and the host goes straight back (no waiting for the timeout)
    std::fs::write(
        flake.join("common.nix"),
        common(
            "7",
            "systemd.services.broken = { wantedBy = [ \"multi-user.target\" ]; \
             serviceConfig.Type = \"oneshot\"; script = \"exit 3\"; };",
        ),
    )
    .unwrap();
    let (out, j) = d.deploy(&["dep-a", "--confirm-timeout", "30"]);
    assert!(!out.status.success(), "{j:#}");
    let r = host_report(&j, "dep-a");
    assert_eq!(r["status"], "rolled-back", "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("activation failed (exit 4)"), "{reason}");
    assert!(r["seconds"]["confirm"].as_f64().unwrap() < 10.0, "{r:#}");
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "2");
    assert_eq!(a.sh_expect("readlink /run/ox/current-system"), gen2_again);
    assert_eq!(a.unit_state("deploy-gen-2.service"), "active");

    // 4c. --dry-run: what would be copied; nothing changes
    std::fs::write(flake.join("common.nix"), common("6", "")).unwrap();
    let (out, j) = d.deploy(&["dep-a", "--dry-run"]);
    assert!(out.status.success(), "dry run: {j:#}");
    let r = host_report(&j, "dep-a");
    assert_eq!(r["status"], "dry-run", "{r:#}");
    assert!(r["copiedPaths"].as_u64().unwrap() > 0, "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("would copy "), "{reason}");
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "2");
    assert_eq!(a.sh_expect("readlink /run/ox/current-system"), gen2_again);

    // 4d. the `test` goal, without --json: active now, the boot default
    // stays; the summary table names the host and its result
    let out = d
        .command(&["dep-a", "test", "--confirm-timeout", "20"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "test goal: {table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("host") && table.contains("result"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("dep-a") && l.contains(" switched ")),
        "{table}"
    );
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "6");
    assert_ne!(a.sh_expect("readlink /run/ox/current-system"), gen2_again);
    assert_eq!(
        a.sh_expect("readlink -f /ox/var/profiles/system"),
        gen2_again
    );

    // 4e. a health check that fails: no confirmation, the host rolls back
    let gen6 = a.sh_expect("readlink /run/ox/current-system");
    std::fs::write(
        flake.join("common.nix"),
        common(
            "8",
            "imports = [ { deployment.healthChecks = [ \"test -e /run/ox-health-ok\" ]; } ];",
        ),
    )
    .unwrap();
    let (out, j) = d.deploy(&["dep-a", "test", "--confirm-timeout", "4"]);
    assert!(!out.status.success(), "{j:#}");
    let r = host_report(&j, "dep-a");
    assert_eq!(r["status"], "rolled-back", "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no confirmation within 4 s")
            && reason.contains("health check `test -e /run/ox-health-ok` failed (exit 1)"),
        "{reason}"
    );
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "6");
    assert_eq!(a.sh_expect("readlink /run/ox/current-system"), gen6);

    // 4f. dry-activate: the plan is printed, nothing changes
    std::fs::write(flake.join("common.nix"), common("9", "")).unwrap();
    let out = d.command(&["dep-a", "dry-activate"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "dry-activate: {text}");
    assert!(
        text.contains("== dep-a ==") && text.contains("deploy-gen-9.service"),
        "{text}"
    );
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "6");
    assert_eq!(a.sh_expect("readlink /run/ox/current-system"), gen6);

    // 4g. boot: the next boot's generation; the running one stays
    let (out, j) = d.deploy(&["dep-a", "boot"]);
    assert!(out.status.success(), "boot: {j:#}");
    let gen9 = host_report(&j, "dep-a")["toplevel"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(a.sh_expect("readlink /run/ox/current-system"), gen6);
    assert_eq!(a.sh_expect("readlink -f /ox/var/profiles/system"), gen9);
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "6");

    // 4h. --ask: one preview of the fleet (paths to copy, the diff
    // against the running generation), one question; `n` changes nothing
    std::fs::write(flake.join("common.nix"), common("10", "")).unwrap();
    let ask = |answer: &str| {
        let mut c = d.command(&["dep-a", "--ask", "--confirm-timeout", "20"]);
        c.env("OX_ASSUME_TTY", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = ask("n\n");
    assert!(!ok, "{err}");
    assert!(err.contains("== dep-a (root@"), "{err}");
    assert!(err.contains("would copy "), "{err}");
    assert!(err.contains("+ system/deploy-gen-10.service"), "{err}");
    assert!(err.contains("- system/deploy-gen-6.service"), "{err}");
    assert!(err.contains("switch 1 host? [y/N]"), "{err}");
    assert!(err.contains("aborted; nothing was changed"), "{err}");
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "6");
    let (ok, err) = ask("y\n");
    assert!(ok, "{err}");
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "10");

    // 5. host key mismatch: refused, nothing changed on the host
    let before = b.sh_expect("readlink /run/ox/current-system");
    std::fs::write(
        &known,
        format!("{} {}\n{} {}\n", addr(11), hostkey(a), addr(12), hostkey(a)),
    )
    .unwrap();
    std::fs::write(flake.join("common.nix"), common("4", "")).unwrap();
    let (out, j) = d.deploy(&["dep-b"]);
    assert!(!out.status.success());
    let r = host_report(&j, "dep-b");
    assert_eq!(r["status"], "failed", "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("dep-b") && reason.contains("does not match"),
        "{reason}"
    );
    assert_eq!(b.sh_expect("readlink /run/ox/current-system"), before);
    assert_eq!(b.sh_expect("cat /etc/deploy-generation"), "1");

    // 5b. a non-root targetUser: everything runs through `sudo -n`
    std::fs::write(
        &known,
        format!("{} {}\n{} {}\n", addr(11), hostkey(a), addr(12), hostkey(b)),
    )
    .unwrap();
    b.sh_expect(&format!(
            // sudo resolves the running hostname; after a reboot it would
            // be /etc/hostname's (which /etc/hosts maps), not nspawn's
            "hostname dep-b && useradd -m deployer && install -d -o deployer -m 700 /home/deployer/.ssh && \
             echo '{}' > /home/deployer/.ssh/authorized_keys && \
             chown deployer /home/deployer/.ssh/authorized_keys && \
             echo 'deployer ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/deployer",
            pubkey.trim()
        ),
    );
    std::fs::write(
        flake.join("hosts/dep-b.nix"),
        host_nix(
            "dep-b",
            &addr(12),
            "\"db\"",
            "deployment.targetUser = \"deployer\";",
        ),
    )
    .unwrap();
    let (out, j) = d.deploy(&["dep-b", "--confirm-timeout", "20"]);
    assert!(out.status.success(), "deploy as deployer: {j:#}");
    let r = host_report(&j, "dep-b");
    assert_eq!(r["target"], format!("deployer@{}", addr(12)), "{r:#}");
    assert_eq!(b.sh_expect("cat /etc/deploy-generation"), "4");
    assert_eq!(b.sh_expect("stat -c %U /ox/var/deploy/bin"), "root");

    // 6. an unreachable host fails, named, with ssh's reason; the others
    // go on (the flake lists a-ghost first)
    std::fs::write(flake.join("common.nix"), common("12", "")).unwrap();
    let (out, j) = d.deploy(&["a-ghost", "dep-b", "-j", "1"]);
    assert!(!out.status.success());
    let r = host_report(&j, "a-ghost");
    assert_eq!(r["status"], "failed", "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("a-ghost") && reason.contains("cannot connect"),
        "{reason}"
    );
    assert_eq!(host_report(&j, "dep-b")["status"], "done", "{j:#}");
    assert_eq!(b.sh_expect("cat /etc/deploy-generation"), "12");
    // a canary rollout stops at the first failure
    std::fs::write(flake.join("common.nix"), common("13", "")).unwrap();
    let (out, j) = d.deploy(&["a-ghost", "dep-b", "-j", "1", "--max-failures", "1"]);
    assert!(!out.status.success());
    let r = host_report(&j, "dep-b");
    assert_eq!(r["status"], "skipped", "{r:#}");
    assert_eq!(b.sh_expect("cat /etc/deploy-generation"), "12");

    // 7. all or nothing: an unreachable host keeps the others from even
    // activating ...
    std::fs::write(flake.join("common.nix"), common("14", "")).unwrap();
    let (out, j) = d.deploy(&["a-ghost", "dep-a", "--all-or-nothing"]);
    assert!(!out.status.success());
    let r = host_report(&j, "dep-a");
    assert_eq!(r["status"], "skipped", "{r:#}");
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "10");
    // ... and a host whose activation fails takes the others back with it
    std::fs::write(
        flake.join("hosts/dep-b.nix"),
        host_nix(
            "dep-b",
            &addr(12),
            "\"db\"",
            "systemd.services.broken = { wantedBy = [ \"multi-user.target\" ]; \
             serviceConfig.Type = \"oneshot\"; script = \"exit 3\"; };",
        ),
    )
    .unwrap();
    let (out, j) = d.deploy(&[
        "dep-a",
        "dep-b",
        "--all-or-nothing",
        "--confirm-timeout",
        "30",
    ]);
    assert!(!out.status.success());
    let rb = host_report(&j, "dep-b");
    assert_eq!(rb["status"], "rolled-back", "{rb:#}");
    let ra = host_report(&j, "dep-a");
    assert_eq!(ra["status"], "rolled-back", "{ra:#}");
    let reason = ra["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("another host of the fleet failed"),
        "{reason}"
    );
    // taken back at once, not after the 30 s timeout
    assert!(ra["seconds"]["confirm"].as_f64().unwrap() < 20.0, "{ra:#}");
    assert!(
        ra["log"]
            .as_str()
            .unwrap_or_default()
            .contains("deploy-gen-14"),
        "{ra:#}"
    );
    assert_eq!(a.sh_expect("cat /etc/deploy-generation"), "10");
    assert_eq!(b.sh_expect("cat /etc/deploy-generation"), "12");

    drop(fleet);
}
