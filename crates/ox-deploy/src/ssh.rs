//! The OpenSSH client as ox uses it: one master connection per host
//! (`ControlMaster`, socket in a private temporary directory) that every
//! later step reuses, plus deliberately *fresh* connections
//! (`ControlPath=none`) for the rollback confirmation, which must prove
//! that a new login still works with the new configuration. Always
//! `BatchMode=yes`: ox never prompts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::Error;

/// Where and how to reach one host.
#[derive(Clone, Debug)]
pub struct Target {
    /// The host's name in the fleet (for messages).
    pub name: String,
    /// `deployment.targetHost`: an address or a name ssh resolves.
    pub host: String,
    pub user: String,
    pub port: Option<u16>,
    /// Extra `-o` options (`Key=Value`), host's own then command line.
    pub ssh_options: Vec<String>,
}

impl Target {
    /// `user@host:port` as shown to people.
    pub fn display(&self) -> String {
        match self.port {
            Some(p) => format!("{}@{}:{p}", self.user, self.host),
            None => format!("{}@{}", self.user, self.host),
        }
    }
}

/// Quotes `s` for a POSIX shell (the remote side runs commands through
/// the login shell, as ssh always does).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A host's master connection. Dropping it closes the master.
pub struct Ssh {
    pub target: Target,
    control: PathBuf,
    log: PathBuf,
    open: bool,
}

impl Ssh {
    /// Opens the master connection (authenticates once). `dir` is a
    /// private directory for the control socket.
    pub fn connect(target: &Target, dir: &Path) -> Result<Ssh, Error> {
        let safe: String = target
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        let mut s = Ssh {
            target: target.clone(),
            control: dir.join(format!("{safe}.sock")),
            log: dir.join(format!("{safe}.master.log")),
            open: false,
        };
        let log = fs::File::create(&s.log)
            .map_err(|e| Error::Local(format!("{}: {e}", s.log.display())))?;
        let mut c = s.base(Mode::Master);
        // -f: go to the background once authenticated; its stderr is a
        // file, not a pipe, so nothing waits on the backgrounded master
        c.args(["-f", "-N"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let st = c
            .status()
            .map_err(|e| Error::Local(format!("running ssh: {e}")))?;
        let err = fs::read_to_string(&s.log).unwrap_or_default();
        if !st.success() {
            return Err(classify(target, &err));
        }
        s.open = true;
        Ok(s)
    }

    fn base(&self, mode: Mode) -> Command {
        let mut c = Command::new("ssh");
        // ssh keeps the first value it sees for an option: the host's and
        // the user's options go first so they can override the defaults
        for o in &self.target.ssh_options {
            c.arg("-o").arg(o);
        }
        c.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]);
        // a dead peer is noticed within ~15 s instead of hanging forever
        c.args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]);
        match mode {
            Mode::Master => {
                c.arg("-o").arg("ControlMaster=yes");
                // closed explicitly when the deploy ends; the timeout only
                // matters if the deployer is killed (no master left behind)
                c.arg("-o").arg("ControlPersist=60");
                c.arg("-o")
                    .arg(format!("ControlPath={}", self.control.display()));
            }
            Mode::Reuse => {
                c.arg("-o").arg("ControlMaster=no");
                c.arg("-o")
                    .arg(format!("ControlPath={}", self.control.display()));
            }
            Mode::Fresh => {
                c.args(["-o", "ControlMaster=no", "-o", "ControlPath=none"]);
            }
        }
        if let Some(p) = self.target.port {
            c.arg("-p").arg(p.to_string());
        }
        c.arg("-l").arg(&self.target.user);
        c.arg(&self.target.host);
        c
    }

    /// A command line to run remotely over the master connection (or a
    /// fresh one), with the arguments quoted.
    pub fn command(&self, argv: &[&str], fresh: bool) -> Command {
        let mut c = self.base(if fresh { Mode::Fresh } else { Mode::Reuse });
        c.arg("--");
        let mut line: Vec<String> = Vec::new();
        if self.target.user != "root" {
            // non-interactive: a password prompt would hang a fleet deploy
            line.extend(["sudo", "-n", "--"].map(String::from));
        }
        line.extend(argv.iter().map(|a| shell_quote(a)));
        c.arg(line.join(" "));
        c
    }

    /// Runs a remote command to completion, feeding it `stdin`.
    pub fn run(&self, argv: &[&str], stdin: Option<&[u8]>, fresh: bool) -> Result<Output, Error> {
        let mut c = self.command(argv, fresh);
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .map_err(|e| Error::Local(format!("running ssh: {e}")))?;
        if let Some(data) = stdin {
            use std::io::Write;
            let mut w = child.stdin.take().expect("piped stdin");
            let data = data.to_vec();
            // a writer thread: the remote may answer before reading all
            std::thread::spawn(move || {
                let _ = w.write_all(&data);
            });
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error::Local(format!("running ssh: {e}")))?;
        if out.status.code() == Some(255) {
            return Err(classify(
                &self.target,
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        Ok(out)
    }

    /// Spawns a remote command with piped stdin/stdout/stderr.
    pub fn spawn(&self, argv: &[&str], fresh: bool) -> Result<Child, Error> {
        self.command(argv, fresh)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Local(format!("running ssh: {e}")))
    }

    /// Whether the master connection is still up.
    pub fn master_alive(&self) -> bool {
        let mut c = self.base(Mode::Reuse);
        c.args(["-O", "check"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.status().map(|s| s.success()).unwrap_or(false)
    }

    pub fn close(&mut self) {
        if self.open {
            let mut c = self.base(Mode::Reuse);
            c.args(["-O", "exit"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = c.status();
            self.open = false;
        }
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        self.close();
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Master,
    Reuse,
    Fresh,
}

/// Turns ssh's stderr (exit 255) into an error that names the host and
/// says what was expected.
pub fn classify(t: &Target, stderr: &str) -> Error {
    let who = format!("{} ({})", t.name, t.display());
    let detail = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect::<Vec<_>>();
    let last = detail
        .last()
        .copied()
        .unwrap_or("ssh exited with status 255");
    let has = |s: &str| stderr.contains(s);
    if has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("Host key for") && has("has changed") {
        // "The fingerprint for the ED25519 key sent by the remote host is"
        // and the fingerprint on the next line
        let lines: Vec<&str> = stderr.lines().map(str::trim).collect();
        let fp = lines
            .iter()
            .position(|l| l.starts_with("The fingerprint for the "))
            .and_then(|i| {
                let kind = lines[i]
                    .trim_start_matches("The fingerprint for the ")
                    .split_whitespace()
                    .next()
                    .unwrap_or("");
                let fp = lines.get(i + 1)?.trim_end_matches('.');
                Some(format!(" (it presented the {kind} key {fp})"))
            })
            .unwrap_or_default();
        return Error::HostKey(format!(
            "{who}: the host key does not match the one recorded in known_hosts{fp}; \
             expected the recorded key. If the host was reinstalled, remove the old key \
             (ssh-keygen -R {}) and try again",
            t.host
        ));
    }
    if has("Host key verification failed") || has("No ") && has("host key is known") {
        return Error::HostKey(format!(
            "{who}: the host's key is not in known_hosts and BatchMode forbids asking; \
             expected a known host key (add it with ssh-keyscan, or pass \
             --ssh-option StrictHostKeyChecking=accept-new)"
        ));
    }
    if has("Permission denied") {
        return Error::Auth(format!(
            "{who}: authentication failed ({last}); expected a key that {} may log in with \
             (ssh-agent, IdentityFile or --ssh-option IdentityFile=…)",
            t.user
        ));
    }
    if has("Connection refused")
        || has("No route to host")
        || has("timed out")
        || has("Could not resolve")
        || has("Network is unreachable")
        || has("Connection closed")
        || has("Connection reset")
    {
        return Error::Unreachable(format!("{who}: cannot connect: {last}"));
    }
    Error::Transport(format!("{who}: ssh failed: {}", detail.join(" / ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Target {
        Target {
            name: "web1".into(),
            host: "10.0.0.5".into(),
            user: "root".into(),
            port: Some(2222),
            ssh_options: vec![],
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/ox/store/abc-x"), "/ox/store/abc-x");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn ssh_errors_name_the_host_and_what_was_expected() {
        let e = classify(
            &t(),
            "@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
             The fingerprint for the ED25519 key sent by the remote host is\nSHA256:abc.\n\
             Host key verification failed.\n",
        );
        assert!(matches!(e, Error::HostKey(_)));
        let s = e.to_string();
        assert!(s.contains("web1 (root@10.0.0.5:2222)"), "{s}");
        assert!(s.contains("does not match"), "{s}");
        assert!(
            s.contains("it presented the ED25519 key SHA256:abc)"),
            "{s}"
        );
        let e = classify(&t(), "Host key verification failed.\n");
        assert!(e.to_string().contains("not in known_hosts"), "{e}");
        let e = classify(
            &t(),
            "ssh: connect to host 10.0.0.5 port 2222: Connection refused\n",
        );
        assert!(matches!(e, Error::Unreachable(_)), "{e}");
        assert!(e.to_string().contains("Connection refused"), "{e}");
        let e = classify(&t(), "root@10.0.0.5: Permission denied (publickey).\n");
        assert!(matches!(e, Error::Auth(_)), "{e}");
        let e = classify(
            &t(),
            "ssh: Could not resolve hostname web1: Name or service not known\n",
        );
        assert!(matches!(e, Error::Unreachable(_)), "{e}");
        let e = classify(
            &t(),
            "No ED25519 host key is known for 10.0.0.5 and you have requested strict checking.\n\
             Host key verification failed.\n",
        );
        assert!(e.to_string().contains("not in known_hosts"), "{e}");
    }
}
