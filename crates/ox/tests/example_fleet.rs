//! The bundled example fleet (`examples/homelab`) as a user meets it:
//! a mistake in a host's roles is reported with the allowed values and
//! the place it was made, before anything is built.

use std::path::Path;
use std::process::Command;

use ox_testhost::testsupport::{
    boot_with_ox, expect_ok, hosts_nix, ox_command, ox_search_path, repo, text, Scratch,
};

const OX: &str = env!("CARGO_BIN_EXE_ox");

fn build(work: &Path, fleet: &Path, host: &str) -> (bool, String) {
    let out = ox_command(Path::new(OX))
        .args(["build", "--no-out-link", "--flake"])
        .arg(format!("{}#{host}", fleet.display()))
        .args(ox_search_path())
        .arg("--store-root")
        .arg(work.join("root"))
        .output()
        .expect("run ox");
    (out.status.success(), text(&out.stderr))
}

#[test]
fn role_typo_names_allowed_roles_and_place() {
    let work = Scratch::new("example-fleet");
    let fleet = work.join("homelab");
    let st = Command::new("cp")
        .arg("-r")
        .arg(repo().join("examples/homelab"))
        .arg(&fleet)
        .status()
        .unwrap();
    assert!(st.success());

    // the unchanged host builds
    let (ok, err) = build(work.path(), &fleet, "brunnen");
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

    let store = work.join("root/ox/store");
    let before = std::fs::read_dir(&store).map(|d| d.count()).unwrap_or(0);
    let (ok, err) = build(work.path(), &fleet, "brunnen");
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
    let homelab = repo().join("examples/homelab");
    let work = Scratch::new("example-brunnen");
    let root = work.join("root");

    let build = |gen: &str, extra: &str| -> String {
        std::fs::write(
            work.join(format!("test{gen}.nix")),
            format!(
                "{{ lib, ... }}: {{\n  environment.systemPackages = lib.mkForce [ ];\n  \
                 environment.etc.\"ox-test-generation\".text = \"{gen}\\n\";\n  {extra}\n}}\n"
            ),
        )
        .unwrap();
        let h = homelab.display();
        std::fs::write(
            work.join(format!("hosts{gen}.nix")),
            hosts_nix(
                "brunnen",
                &[
                    format!("{h}/modules"),
                    format!("{h}/hosts/brunnen"),
                    format!("./test{gen}.nix"),
                ],
            ),
        )
        .unwrap();
        let o = ox_command(Path::new(OX))
            .args([
                "build",
                &format!("hosts{gen}.nix"),
                "--host",
                "brunnen",
                "--no-out-link",
            ])
            .args(ox_search_path())
            .arg("--store-root")
            .arg(&root)
            .current_dir(work.path())
            .output()
            .unwrap();
        expect_ok("ox build", &o);
        text(&o.stdout).lines().last().unwrap().trim().to_string()
    };
    let t1 = build("1", "");
    let t2 = build(
        "2",
        "users.users.guest = { isNormalUser = true; };\n  \
         systemd.services.hello = { wantedBy = [ \"multi-user.target\" ]; \
         serviceConfig = { Type = \"oneshot\"; RemainAfterExit = true; }; script = \"true\"; };",
    );
    assert_ne!(t1, t2);

    let host =
        boot_with_ox("oxbrun", Path::new(OX), &root.join("ox/store")).expect("boot test host");
    let sh = |s: &str| host.sh_expect(s);
    let ox = |args: &[&str]| expect_ok(&format!("ox {args:?}"), &host.ox(args));

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
