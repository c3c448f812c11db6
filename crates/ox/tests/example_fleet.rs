//! The bundled example fleet (`examples/homelab`) as a user meets it:
//! a mistake in a host's roles is reported with the allowed values and
//! the place it was made, before anything is built.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Work(PathBuf);

impl Drop for Work {
    fn drop(&mut self) {
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build(work: &Path, fleet: &Path, host: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ox"))
        .args(["build", "--no-out-link", "--flake"])
        .arg(format!("{}#{host}", fleet.display()))
        .arg("-I")
        .arg(format!("ox={}", repo().join("nix").display()))
        .arg("--store-root")
        .arg(work.join("root"))
        .env("NO_COLOR", "1")
        .env_remove("NIX_PATH")
        .env_remove("OX_STORE_DIR")
        .output()
        .expect("run ox");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn role_typo_names_allowed_roles_and_place() {
    let work = Work(std::env::temp_dir().join(format!("ox-example-fleet-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&work.0);
    std::fs::create_dir_all(&work.0).unwrap();
    let fleet = work.0.join("homelab");
    let st = Command::new("cp")
        .arg("-r")
        .arg(repo().join("examples/homelab"))
        .arg(&fleet)
        .status()
        .unwrap();
    assert!(st.success());

    // the unchanged host builds
    let (ok, err) = build(&work.0, &fleet, "brunnen");
    assert!(ok, "brunnen should build:\n{err}");

    let host = fleet.join("hosts/brunnen/default.nix");
    let text = std::fs::read_to_string(&host).unwrap();
    assert!(text.contains(r#"roles = [ "server" ];"#));
    std::fs::write(&host, text.replace(r#"[ "server" ]"#, r#"[ "sever" ]"#)).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("roles ="))
        .map(|i| i + 1)
        .unwrap();

    let store = work.0.join("root/ox/store");
    let before = std::fs::read_dir(&store).map(|d| d.count()).unwrap_or(0);
    let (ok, err) = build(&work.0, &fleet, "brunnen");
    assert!(!ok, "a role typo must fail");
    assert!(err.contains("ox.roles"), "names the option:\n{err}");
    assert!(err.contains(r#""sever""#), "shows the bad value:\n{err}");
    assert!(
        err.contains(r#"one of "desktop", "laptop", "server", "games", "vr", "nas""#),
        "lists the allowed roles:\n{err}"
    );
    assert!(
        err.contains(&format!("hosts/brunnen/default.nix:{line}:")),
        "points at the definition:\n{err}"
    );
    // nothing new in the store but the flake's (edited) source
    let after = std::fs::read_dir(&store).map(|d| d.count()).unwrap_or(0);
    assert!(
        after <= before + 1,
        "a failed build added {} store entries",
        after - before
    );
}

/// The minimal server as written (plus a test module that only drops the
/// apt packages: the container has no network), built with `ox build`
/// and switched in a real Debian container holding brunnen's TEST-ONLY
/// host key: its services, its users and its decrypted fleet secret
/// come up; a second generation changes the host; `ox rollback` takes
/// it back.
#[test]
fn minimal_server_switches_in_a_container_and_rolls_back() {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let homelab = repo().canonicalize().unwrap().join("examples/homelab");
    let work =
        Work(std::env::temp_dir().join(format!("ox-example-brunnen-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&work.0);
    std::fs::create_dir_all(&work.0).unwrap();
    let root = work.0.join("root");

    let build = |gen: &str, extra: &str| -> String {
        std::fs::write(
            work.0.join(format!("test{gen}.nix")),
            format!(
                "{{ lib, ... }}: {{\n  environment.systemPackages = lib.mkForce [ ];\n  \
                 environment.etc.\"ox-test-generation\".text = \"{gen}\\n\";\n  {extra}\n}}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            work.0.join(format!("hosts{gen}.nix")),
            format!(
                "{{ brunnen = import <ox/modules/eval-host.nix> {{\n  \
                 modules = [ {h}/modules {h}/hosts/brunnen ./test{gen}.nix ];\n  \
                 specialArgs = {{ inputs = {{ }}; }};\n}}; }}\n",
                h = homelab.display()
            ),
        )
        .unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_ox"))
            .args([
                "build",
                &format!("hosts{gen}.nix"),
                "--host",
                "brunnen",
                "--no-out-link",
            ])
            .arg("-I")
            .arg(format!("ox={}", repo().join("nix").display()))
            .arg("--store-root")
            .arg(&root)
            .current_dir(&work.0)
            .env_remove("NIX_PATH")
            .env_remove("OX_STORE_DIR")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "ox build failed:\n{err}");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_string()
    };
    let t1 = build("1", "");
    let t2 = build(
        "2",
        "users.users.guest = { isNormalUser = true; };\n  \
         systemd.services.hello = { wantedBy = [ \"multi-user.target\" ]; \
         serviceConfig = { Type = \"oneshot\"; RemainAfterExit = true; }; script = \"true\"; };",
    );
    assert_ne!(t1, t2);

    let host = ox_testhost::Host::boot(ox_testhost::HostOpts {
        prefix: "oxbrun".into(),
        binds_ro: vec![
            (
                PathBuf::from(env!("CARGO_BIN_EXE_ox")),
                PathBuf::from("/usr/local/bin/ox"),
            ),
            (root.join("ox/store"), PathBuf::from("/ox/store")),
        ],
        ..ox_testhost::HostOpts::default()
    })
    .expect("boot test host");
    let sh = |s: &str| -> String {
        host.sh_ok(s)
            .unwrap_or_else(|e| panic!("guest `{s}`: {e}"))
            .trim()
            .to_string()
    };
    let ox = |args: &[&str]| -> String {
        let mut argv = vec!["ox"];
        argv.extend_from_slice(args);
        let o = host.exec(&argv).expect("run ox in guest");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.status.success(),
            "ox {args:?} failed ({}):\n{all}",
            o.status
        );
        all
    };

    // brunnen's TEST-ONLY host key decrypts the fleet secret
    let key = std::fs::read(homelab.join("keys/hosts/brunnen_ssh_host_ed25519_key")).unwrap();
    std::fs::write(host.path("/etc/ssh/ssh_host_ed25519_key"), key).unwrap();
    sh("chmod 600 /etc/ssh/ssh_host_ed25519_key");

    let out = ox(&["switch", &t1]);
    eprintln!("first switch:\n{out}");
    assert_eq!(sh("cat /etc/hostname"), "brunnen");
    assert_eq!(sh("cat /etc/ox-test-generation"), "1");
    // its service (a oneshot that stays active) and its admin user
    assert_eq!(
        sh("systemctl is-active systemd-networkd-wait-online-override.service || true"),
        "active"
    );
    assert!(sh("getent passwd ops").starts_with("ops:"));
    // the password hash came from the decrypted fleet secret
    let hash = sh("getent shadow ops | cut -d: -f2");
    assert!(
        hash.starts_with("$6$oxexample$"),
        "ops' password hash: {hash}"
    );
    assert!(!out.contains(&hash), "ox printed the secret hash");
    assert_eq!(
        sh("stat -L -c '%U %a' /run/secrets-for-users/ops/password-hash"),
        "root 400"
    );

    // a second generation: a new user and a new service
    ox(&["switch", &t2]);
    assert_eq!(sh("cat /etc/ox-test-generation"), "2");
    assert!(sh("getent passwd guest").starts_with("guest:"));
    assert_eq!(sh("systemctl is-active hello.service || true"), "active");

    // rollback: generation 1's files and units again; the new service is
    // stopped, the added user locked (homes are never deleted)
    let out = ox(&["rollback"]);
    eprintln!("rollback:\n{out}");
    assert_eq!(sh("cat /etc/ox-test-generation"), "1");
    assert_eq!(sh("systemctl is-active hello.service || true"), "inactive");
    assert_eq!(
        sh("systemctl is-active systemd-networkd-wait-online-override.service || true"),
        "active"
    );
    let gens = ox(&["generations"]);
    assert!(gens.lines().count() >= 2, "{gens}");
}
