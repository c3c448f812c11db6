//! Secrets end to end: the example fleet's `schere` (examples/homelab,
//! whose modules/powerdns.nix declares the sops secret and the
//! `pdns-env` template exactly as the seed writes them) is built with
//! `ox build` into a scratch store, switched in a Debian container whose
//! /etc/ssh holds schere's TEST-ONLY host key, and checked from the
//! outside: the rendered file's content, owner and mode, the value a
//! service sees through `EnvironmentFile=`, restarts only on a changed
//! value, a refused switch when the host cannot decrypt, and no
//! plaintext in the store or in anything ox printed.
//!
//! The container has no network, so a small test module (written here)
//! drops the fleet's apt packages and replaces pdns' ExecStart with a
//! script that records a hash of `$PDNS_API_KEY`; everything else is the
//! example as written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ox_testhost::testsupport::{
    boot_with_ox, expect_ok, hosts_nix, ox_command, ox_search_path, repo, text, Scratch,
};
use ox_testhost::Host;

const OX: &str = env!("CARGO_BIN_EXE_ox");

fn sha256_hex(b: &[u8]) -> String {
    let o = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(b)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    text(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The guest and the scratch directories, dropped in this order.
struct Env {
    host: Option<Host>,
    root: Scratch,
    work: Scratch,
    /// Everything ox printed, on the build machine and in the guest.
    printed: String,
}

const TEST_MODULE: &str = r#"
# Container adjustments only: no apt (the guest has no network), and a
# pdns stand-in that records what EnvironmentFile= gave it (a hash: the
# value itself must not be written anywhere but /run/secrets).
{ config, lib, pkgs, ... }:
{
  environment.systemPackages = lib.mkForce [ ];
  sops.templates."pdns-env".restartUnits = [ "pdns.service" ];
  environment.etc."ox-test-generation".text = "@GEN@\n";
  # a neededForUsers secret as the admin's initial password hash
  sops.secrets."ops-password" = { neededForUsers = true; sopsFile = ./pw.yaml; key = "ops"; };
  users.users.ops.hashedPasswordFile = lib.mkIf (config.sops.secrets ? "ops-password")
    config.sops.secrets."ops-password".path;
  systemd.services.pdns.serviceConfig.ExecStart = lib.mkForce "${pkgs.writeShellScript "pdns-standin" ''
    printf %s "$PDNS_API_KEY" | sha256sum | cut -d' ' -f1 > /var/lib/powerdns/api-key.sha256
    exec sleep infinity
  ''}";
}
"#;

impl Env {
    fn ox_host(&mut self, args: &[&str]) -> Output {
        let mut c = ox_command(Path::new(OX));
        c.args(args);
        if args[0] == "build" {
            c.args(ox_search_path());
        }
        let o = c
            .current_dir(self.work.path())
            .env("OX_STORE_ROOT", self.root.path())
            .env("OX_STATE_DIR", self.root.join("state"))
            .output()
            .expect("running ox");
        self.printed.push_str(&text(&o.stdout));
        self.printed.push_str(&text(&o.stderr));
        o
    }

    /// Writes the hosts file for generation `gen` (with `extra` Nix
    /// module text) and builds schere; returns the toplevel path.
    fn build(&mut self, gen: &str, extra: &str) -> String {
        let homelab = repo().join("examples/homelab");
        std::fs::write(
            self.work.join("test.nix"),
            TEST_MODULE.replace("@GEN@", gen),
        )
        .unwrap();
        std::fs::write(self.work.join("extra.nix"), extra).unwrap();
        let h = homelab.display();
        let hosts = hosts_nix(
            "schere",
            &[
                format!("{h}/modules"),
                format!("{h}/hosts/schere"),
                "./test.nix".into(),
                "./extra.nix".into(),
            ],
        );
        std::fs::write(self.work.join("hosts.nix"), hosts).unwrap();
        let o = self.ox_host(&["build", "hosts.nix", "--host", "schere", "--no-out-link"]);
        expect_ok("ox build", &o);
        text(&o.stdout).lines().last().unwrap().trim().to_string()
    }

    fn host(&self) -> &Host {
        self.host.as_ref().expect("host")
    }

    fn ox(&mut self, args: &[&str]) -> Output {
        let o = self.host().ox(args);
        self.printed.push_str(&text(&o.stdout));
        self.printed.push_str(&text(&o.stderr));
        o
    }

    fn ox_ok(&mut self, args: &[&str]) -> String {
        let o = self.ox(args);
        expect_ok(&format!("ox {args:?}"), &o)
    }

    fn sh(&self, s: &str) -> String {
        self.host().sh_expect(s)
    }

    /// Waits for the stand-in to have written its hash.
    fn seen_hash(&self) -> String {
        for _ in 0..50 {
            let h = self.sh("cat /var/lib/powerdns/api-key.sha256 2>/dev/null || true");
            if !h.is_empty() {
                return h;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("pdns never wrote its hash");
    }
}

/// Every file under `dir` (following no symlinks) containing `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(p),
                Ok(t)
                    if t.is_file()
                        && std::fs::read(&p)
                            .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) =>
                {
                    hits.push(p)
                }
                _ => {}
            }
        }
    }
    hits
}

#[test]
fn schere_powerdns_secret_end_to_end() {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let homelab = repo().join("examples/homelab");
    let tag = format!("{}", std::process::id());
    let mut e = Env {
        host: None,
        root: Scratch::under(Path::new("/var/tmp"), "secrets-e2e-root"),
        work: Scratch::under(Path::new("/var/tmp"), "secrets-e2e-work"),
        printed: String::new(),
    };

    // the known value, read with the TEST-ONLY admin key
    let o = e.ox_host(&[
        "secrets",
        "decrypt",
        "--identity",
        homelab.join("keys/admin.age.txt").to_str().unwrap(),
        "--extract",
        "[\"powerdns\"][\"api-key\"]",
        homelab.join("secrets/dns.yaml").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "decrypt: {}", text(&o.stderr));
    let value1 = text(&o.stdout);
    assert!(value1.len() >= 8, "a real value");
    // what ox printed so far is the test's own decrypt: not ox's build
    // or activation output, which is what must never show the value
    e.printed.clear();

    // more values, encrypted to schere's host key the way an admin
    // would (sops' recipient line from .sops.yaml): a new API key and
    // a password hash
    let value2 = format!("v2-{}-{}", std::process::id(), sha256_hex(tag.as_bytes()));
    let pw_hash = format!("$6$oxtest$h{}", sha256_hex(value2.as_bytes()));
    let pubkey =
        std::fs::read_to_string(homelab.join("keys/hosts/schere_ssh_host_ed25519_key.pub"))
            .unwrap();
    let pubkey = pubkey
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    for (file, yaml) in [
        ("dns2.yaml", format!("powerdns:\n    api-key: {value2}\n")),
        ("pw.yaml", format!("ops: '{pw_hash}'\n")),
    ] {
        let plain = e.work.join(file);
        std::fs::write(&plain, yaml).unwrap();
        let enc = ox_command(Path::new(OX))
            .args(["secrets", "encrypt", "--age", &pubkey, "-i"])
            .arg(&plain)
            .env("HOME", e.work.path())
            .output()
            .unwrap();
        assert!(enc.status.success(), "encrypt: {}", text(&enc.stderr));
    }
    let t1 = e.build("1", "{ }");
    let t2 = e.build("2", "{ }");
    let t3 = e.build(
        "3",
        "{ lib, ... }: { sops.secrets.\"powerdns/api-key\".sopsFile = lib.mkForce ./dns2.yaml; }",
    );
    // generation 4 declares no secrets (pdns as a secondary needs none)
    let t4 = e.build(
        "4",
        "{ lib, ... }: { ox.powerdns.secondary = true; sops.secrets = lib.mkForce { }; \
         sops.templates = lib.mkForce { }; }",
    );
    assert!(t1 != t2 && t2 != t3 && t3 != t4, "{t1} {t2} {t3} {t4}");

    let store = e.root.join("ox/store");
    let host = boot_with_ox("oxsec", Path::new(OX), &store).expect("boot test host");
    e.host = Some(host);

    // the activation.json references the encrypted file in the store
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            store
                .join(t1.trim_start_matches("/ox/store/"))
                .join("activation.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let s = &plan["secrets"];
    let api = s["secrets"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "powerdns/api-key"))
        .unwrap_or_else(|| panic!("no powerdns/api-key secret in {s}"));
    let sops_file = api["sopsFile"].as_str().unwrap().to_string();
    assert!(
        sops_file.starts_with("/ox/store/") && sops_file.ends_with("-dns.yaml"),
        "{sops_file}"
    );
    assert_eq!(s["templates"][0]["name"], "pdns-env");
    assert_eq!(s["templates"][0]["owner"], "pdns");
    assert_eq!(s["templates"][0]["mode"], "0400");

    // without schere's key the host cannot decrypt: refused, exit 1,
    // nothing changed
    let o = e.ox(&["switch", &t1]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let err = text(&o.stderr);
    eprintln!("refused switch:\n{err}");
    assert!(err.contains("powerdns/api-key"), "{err}");
    assert!(e.sh("test -e /etc/ox-test-generation && echo yes || echo no") == "no");
    assert!(e.sh("test -e /run/ox/current-system && echo yes || echo no") == "no");
    assert!(
        e.sh("getent passwd pdns || true").is_empty(),
        "no user created"
    );

    // install the TEST-ONLY host key
    let key = std::fs::read(homelab.join("keys/hosts/schere_ssh_host_ed25519_key")).unwrap();
    let guest_key = e.host().path("/etc/ssh/ssh_host_ed25519_key");
    std::fs::write(&guest_key, key).unwrap();
    e.sh(
        "chmod 600 /etc/ssh/ssh_host_ed25519_key && chown root:root /etc/ssh/ssh_host_ed25519_key",
    );

    let dry = e.ox_ok(&["dry-activate", &t1]);
    assert!(dry.contains("/run/secrets/rendered/pdns-env"), "{dry}");
    assert!(dry.contains("/run/secrets/powerdns/api-key"), "{dry}");

    let out = e.ox_ok(&["switch", &t1]);
    eprintln!("first switch:\n{out}");
    assert_eq!(
        e.sh("cat /run/secrets/rendered/pdns-env"),
        format!("PDNS_API_KEY={value1}")
    );
    assert_eq!(
        e.sh("stat -L -c '%U:%G %a' /run/secrets/rendered/pdns-env"),
        "pdns:pdns 400"
    );
    assert_eq!(
        e.sh("stat -L -c '%U:%G %a' /run/secrets/powerdns/api-key"),
        "root:root 400"
    );
    // the neededForUsers secret, installed before the user was created
    assert_eq!(e.sh("getent shadow ops | cut -d: -f2"), pw_hash);
    assert_eq!(
        e.sh("stat -L -c '%U:%G %a' /run/secrets-for-users/ops-password"),
        "root:root 400"
    );
    let link = e.sh("readlink /run/secrets");
    assert!(link.starts_with("/run/secrets.d/"), "{link}");
    assert_eq!(e.sh("stat -f -c %T /run/secrets.d/"), "tmpfs");
    assert_eq!(e.sh("systemctl is-active pdns.service"), "active");
    assert_eq!(e.seen_hash(), sha256_hex(value1.as_bytes()));
    // the unit's EnvironmentFile= is the template's path
    assert!(e
        .sh("systemctl show -P EnvironmentFiles pdns.service")
        .contains("/run/secrets/rendered/pdns-env"));
    let pid1 = e.sh("systemctl show -P MainPID pdns.service");

    // generation 2: same value, another change: pdns keeps running
    let dry = e.ox_ok(&["dry-activate", &t2]);
    assert!(!dry.contains("/run/secrets/"), "no secret changes:\n{dry}");
    e.ox_ok(&["switch", &t2]);
    assert_eq!(e.sh("cat /etc/ox-test-generation"), "2");
    assert_eq!(e.sh("systemctl show -P MainPID pdns.service"), pid1);

    // generation 3: a new value: listed by name, pdns restarted, sees it
    let dry = e.ox_ok(&["dry-activate", &t3]);
    assert!(dry.contains("/run/secrets/powerdns/api-key"), "{dry}");
    assert!(dry.contains("/run/secrets/rendered/pdns-env"), "{dry}");
    e.sh("rm -f /var/lib/powerdns/api-key.sha256");
    let out = e.ox_ok(&["switch", &t3]);
    eprintln!("switch to a changed value:\n{out}");
    assert!(out.contains("restart pdns.service"), "{out}");
    assert_ne!(e.sh("systemctl show -P MainPID pdns.service"), pid1);
    assert_eq!(e.seen_hash(), sha256_hex(value2.as_bytes()));
    assert_eq!(
        e.sh("cat /run/secrets/rendered/pdns-env"),
        format!("PDNS_API_KEY={value2}")
    );

    // timing (docs/secrets.md): a switch to the running generation
    // still decrypts and installs a fresh secrets generation
    let pid3 = e.sh("systemctl show -P MainPID pdns.service");
    let started = std::time::Instant::now();
    e.ox_ok(&["activate", &t3, "switch", "--no-detach"]);
    eprintln!(
        "no-change switch with 3 secrets/templates: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(e.sh("systemctl show -P MainPID pdns.service"), pid3);

    // a switch back to generation 2 killed right after its secrets
    // were installed is undone: generation 3's value again, pdns
    // restarted to see it; killed after the /etc flip it is finished:
    // generation 2's value, and the journalled restart still happens
    for (point, want_top, want_value) in [("users", &t3, &value2), ("flipped", &t2, &value1)] {
        let o = e.host().ox_killed_at(point, &["switch", &t2]);
        e.printed.push_str(&text(&o.stdout));
        e.printed.push_str(&text(&o.stderr));
        assert!(!o.status.success(), "{point}: the fault did not fire");
        e.sh("rm -f /var/lib/powerdns/api-key.sha256");
        let out = e.ox_ok(&["activate", "--recover"]);
        assert_eq!(
            e.sh("readlink /run/ox/current-system"),
            *want_top,
            "{point}: {out}"
        );
        assert_eq!(
            e.sh("cat /run/secrets/rendered/pdns-env"),
            format!("PDNS_API_KEY={want_value}"),
            "{point}"
        );
        assert_eq!(
            e.seen_hash(),
            sha256_hex(want_value.as_bytes()),
            "{point}: {out}"
        );
    }
    e.ox_ok(&["switch", &t3]);
    assert_eq!(e.seen_hash(), sha256_hex(value2.as_bytes()));

    // a reboot empties /run: ox-boot.service installs the secrets again
    // before pdns starts
    e.sh("rm -f /var/lib/powerdns/api-key.sha256");
    e.host.as_mut().expect("host").restart().expect("reboot");
    let mut active = String::new();
    for _ in 0..100 {
        active = e.sh("systemctl is-active pdns.service || true");
        if active == "active" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        active,
        "active",
        "{}",
        e.sh("systemctl status ox-boot.service pdns.service || true")
    );
    assert_eq!(e.seen_hash(), sha256_hex(value2.as_bytes()));
    assert_eq!(
        e.sh("stat -L -c '%U:%G %a' /run/secrets/rendered/pdns-env"),
        "pdns:pdns 400"
    );

    // secrets no longer declared: removed from /run
    let dry = e.ox_ok(&["dry-activate", &t4]);
    assert!(dry.contains("remove secret(s): /run/secrets/"), "{dry}");
    e.ox_ok(&["switch", &t4]);
    assert_eq!(e.sh("test -e /run/secrets && echo yes || echo no"), "no");
    assert_eq!(
        e.sh("test -e /run/secrets-for-users && echo yes || echo no"),
        "no"
    );
    assert_eq!(e.sh("ls /run/secrets.d/ | wc -l"), "0");

    // `ox rollback` takes the host back to generation 3: its decrypted
    // secrets and the service reading them (the stand-in's hash file is
    // removed first, so the hash read below is the restarted service's)
    e.sh("rm -f /var/lib/powerdns/api-key.sha256");
    let out = e.ox_ok(&["rollback"]);
    eprintln!("rollback:\n{out}");
    assert_eq!(e.sh("cat /etc/ox-test-generation"), "3");
    assert_eq!(e.sh("systemctl is-active pdns.service"), "active");
    assert_eq!(e.seen_hash(), sha256_hex(value2.as_bytes()));
    assert_eq!(
        e.sh("stat -L -c '%U:%G %a' /run/secrets/rendered/pdns-env"),
        "pdns:pdns 400"
    );

    // no plaintext in the store, the build side's state, or the guest's
    // activation state; none in anything ox printed
    for v in [&value1, &value2, &pw_hash] {
        let hits = files_containing(e.root.path(), v.as_bytes());
        assert!(hits.is_empty(), "plaintext in {hits:?}");
        let guest_state = e.host().path("/ox/var");
        let hits = files_containing(&guest_state, v.as_bytes());
        assert!(hits.is_empty(), "plaintext in {hits:?}");
        assert!(!e.printed.contains(v.as_str()), "ox printed a secret value");
    }
    assert!(e.printed.contains("pdns-env"), "the output names secrets");
}
