//! What ox's integration tests share besides booting hosts: scratch
//! directories, the repository's paths, running the `ox` binary the
//! way a user does, a hosts file over `<ox/modules/eval-host.nix>`, and
//! a host booted with `ox` and a store bind-mounted in.
//!
//! Unlike the rest of this crate it knows ox's layout (the repository's
//! `nix/` tree, `/ox/store`, `/usr/local/bin/ox`); the `ox` binary
//! itself is the caller's (`env!("CARGO_BIN_EXE_ox")` exists only in
//! the `ox` crate's tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Host, HostOpts};

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// `-I ox=<repo>/nix`: the Nix code ox ships, from this checkout.
pub fn ox_search_path() -> [String; 2] {
    ["-I".into(), format!("ox={}", repo().join("nix").display())]
}

/// Lossy UTF-8, for output in assertions.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An empty scratch directory, unique to this process and call, removed
/// on drop, read-only store paths inside it included.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Under the system's temp dir.
    pub fn new(tag: &str) -> Scratch {
        Scratch::under(&std::env::temp_dir(), tag)
    }

    /// Under `base` (e.g. `/var/tmp`, for a store a container binds).
    pub fn under(base: &Path, tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = base.join(format!(
            "ox-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        make_writable(&p);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create scratch dir");
        Scratch(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.0.join(rel)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

/// Store paths are read-only: make them removable.
fn make_writable(p: &Path) {
    if p.exists() {
        let _ = Command::new("chmod").arg("-R").arg("u+w").arg(p).status();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        make_writable(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `ox` as the tests run it on the build side: plain output, and no
/// `NIX_PATH` or `OX_STORE_DIR` from the environment.
pub fn ox_command(ox_bin: &Path) -> Command {
    let mut c = Command::new(ox_bin);
    c.env("NO_COLOR", "1")
        .env_remove("NIX_PATH")
        .env_remove("OX_STORE_DIR");
    c
}

/// Runs `cmd`: whether it succeeded, its stdout, its stderr.
pub fn outcome(cmd: &mut Command) -> (bool, String, String) {
    let o = cmd.output().expect("run the command");
    (o.status.success(), text(&o.stdout), text(&o.stderr))
}

/// A hosts file with one host, `host`, evaluated by
/// `<ox/modules/eval-host.nix>` from `modules` (Nix expressions: paths
/// as written, e.g. `./test.nix` or an absolute path).
pub fn hosts_nix(host: &str, modules: &[String]) -> String {
    format!(
        "{{ {host} = import <ox/modules/eval-host.nix> {{\n  \
         modules = [ {} ];\n  \
         specialArgs = {{ inputs = {{ }}; }};\n}}; }}\n",
        modules.join(" ")
    )
}

/// Boots a host with `ox_bin` at `/usr/local/bin/ox` and `store` at
/// `/ox/store`, both read-only.
pub fn boot_with_ox(prefix: &str, ox_bin: &Path, store: &Path) -> std::io::Result<Host> {
    Host::boot(HostOpts {
        prefix: prefix.into(),
        binds_ro: vec![
            (ox_bin.to_path_buf(), PathBuf::from("/usr/local/bin/ox")),
            (store.to_path_buf(), PathBuf::from("/ox/store")),
        ],
        ..HostOpts::default()
    })
}

impl Host {
    /// `ox ARGS` in the guest (whatever its exit status).
    pub fn ox(&self, args: &[&str]) -> Output {
        let mut argv = vec!["ox"];
        argv.extend_from_slice(args);
        self.exec(&argv).expect("run ox in the guest")
    }

    /// `ox ARGS` in the guest with activation's fault injection: the
    /// process is killed at `point` (`OX_ACTIVATE_FAULT`).
    pub fn ox_killed_at(&self, point: &str, args: &[&str]) -> Output {
        let fault = format!("OX_ACTIVATE_FAULT={point}");
        let mut argv = vec!["env", fault.as_str(), "ox"];
        argv.extend_from_slice(args);
        self.exec(&argv).expect("run ox in the guest")
    }

    /// A shell script's trimmed stdout; panics with its output when it
    /// fails.
    pub fn sh_expect(&self, script: &str) -> String {
        self.sh_ok(script)
            .unwrap_or_else(|e| panic!("guest `{script}`: {e}"))
            .trim()
            .to_string()
    }
}

/// A fixed git identity and no user git config, for tests that commit.
pub fn git_env(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@ox.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@ox.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
}

/// `bash -euo pipefail -c SCRIPT` in `dir`, with [`git_env`]; panics
/// with its stderr when it fails.
pub fn sh(dir: &Path, script: &str) {
    let out = git_env(
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(dir),
    )
    .output()
    .expect("run bash");
    assert!(out.status.success(), "`{script}`: {}", text(&out.stderr));
}

/// A new passphrase-less ed25519 key pair at `key` and `key.pub`.
pub fn ssh_keygen(key: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(key)
        .status()
        .expect("run ssh-keygen");
    assert!(st.success(), "ssh-keygen {}: {st}", key.display());
}

/// stdout and stderr of a run that must have succeeded.
pub fn expect_ok(what: &str, o: &Output) -> String {
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{what} failed ({}):\n{all}", o.status);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Scratch dirs are distinct and gone after drop, also with a
    /// read-only store path inside (that part bites only when the tests
    /// run as a normal user; root may remove it anyway).
    #[test]
    fn scratch_dirs_are_unique_and_removed() {
        let s = Scratch::new("testsupport-selftest");
        let p = s.to_path_buf();
        let ro = s.join("store/x-ro");
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::write(ro.join("f"), "x").unwrap();
        for d in [ro.join("f"), ro.clone(), s.join("store")] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        assert!(Scratch::new("testsupport-selftest").path() != p.as_path());
        drop(s);
        assert!(!p.exists(), "{} left behind", p.display());
    }

    #[test]
    fn hosts_file_imports_eval_host() {
        assert_eq!(
            hosts_nix("h", &["./a.nix".into(), "/b".into()]),
            "{ h = import <ox/modules/eval-host.nix> {\n  modules = [ ./a.nix /b ];\n  \
             specialArgs = { inputs = { }; };\n}; }\n"
        );
    }
}
