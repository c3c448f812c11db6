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
