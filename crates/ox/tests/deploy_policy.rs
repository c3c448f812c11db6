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
