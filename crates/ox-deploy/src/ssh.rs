//! The OpenSSH client as ox uses it: one master connection per host
//! (`ControlMaster`, socket in a private temporary directory) that every
//! later step reuses, plus deliberately *fresh* connections
//! (`ControlPath=none`) for the rollback confirmation, which must prove
//! that a new login still works with the new configuration. Always
//! `BatchMode=yes`: ox never prompts.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

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
    /// How a `user` other than root becomes root.
    pub elevate: Elevate,
}

/// The tool that makes a non-root login root (`deployment.elevate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ElevateTool {
    #[default]
    Sudo,
    Doas,
    Run0,
}

impl ElevateTool {
    pub fn parse(s: &str) -> Option<ElevateTool> {
        Some(match s {
            "sudo" => ElevateTool::Sudo,
            "doas" => ElevateTool::Doas,
            "run0" => ElevateTool::Run0,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ElevateTool::Sudo => "sudo",
            ElevateTool::Doas => "doas",
            ElevateTool::Run0 => "run0",
        }
    }
    /// The prefix that never prompts (fails instead).
    fn non_interactive(self) -> &'static [&'static str] {
        match self {
            ElevateTool::Sudo => &["sudo", "-n", "--"],
            ElevateTool::Doas => &["doas", "-n", "--"],
            ElevateTool::Run0 => &["run0", "--no-ask-password", "--"],
        }
    }
}

/// The elevation password. Never printed (its Debug says so), never put
/// on a command line or in an environment: it is written to the remote
/// command's stdin, where `sudo -S` reads it.
#[derive(Clone)]
pub struct Password(Arc<String>);

impl Password {
    pub fn new(s: String) -> Password {
        Password(Arc::new(s))
    }
    /// Whether `text` contains it (for scrubbing remote error output).
    fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(self.0.as_str(), "<password>")
        }
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

#[derive(Clone, Debug, Default)]
pub struct Elevate {
    pub tool: ElevateTool,
    /// `--ask-elevate-password` / `--elevate-password-file`.
    pub password: Option<Password>,
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
    /// The password goes first on every remote command's stdin (its
    /// elevation needs one: found out by [`Ssh::check_elevation`]).
    feed_password: bool,
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
            feed_password: false,
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
        s.check_elevation()?;
        Ok(s)
    }

    /// For a non-root user: can it become root, and does that need the
    /// password? First without one (`sudo -n true`: NOPASSWD rules work
    /// as before and are never sent the password); then, with a
    /// password, `sudo -k -S -p '' true` with it on stdin (`-k`: ignore
    /// cached credentials, so sudo always reads exactly that line). A
    /// refusal names host, user and tool and changes nothing.
    pub fn check_elevation(&mut self) -> Result<(), Error> {
        let t = &self.target;
        if t.user == "root" {
            return Ok(());
        }
        let who = format!("{} ({})", t.name, t.display());
        let tool = t.elevate.tool.as_str();
        let mut probe = t.elevate.tool.non_interactive().to_vec();
        probe.push("true");
        let out = self.raw(&probe, None, false)?;
        if out.status.success() {
            self.feed_password = false;
            return Ok(());
        }
        let verdict = |o: &Output| {
            let e = String::from_utf8_lossy(&o.stderr);
            let e = match &t.elevate.password {
                Some(p) => p.scrub(&e),
                None => e.into_owned(),
            };
            // the last line is the verdict ("a password is required",
            // "1 incorrect password attempt"); earlier ones are warnings
            e.lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("no message")
                .to_string()
        };
        let Some(pw) = &t.elevate.password else {
            return Err(Error::Elevation(format!(
                "{who}: `{tool}` needs a password for user `{}` on this host ({}); \
                 run `ox deploy --ask-elevate-password` (or give `{}` a rule that needs none)",
                t.user,
                verdict(&out),
                t.user
            )));
        };
        if t.elevate.tool != ElevateTool::Sudo {
            return Err(Error::Elevation(format!(
                "{who}: `{tool}` needs a password for user `{}` ({}), and ox can pass a password \
                 only to sudo (`{tool}` reads it from a terminal, not from a stream); \
                 give `{}` a rule that needs no password or set deployment.elevate = \"sudo\"",
                t.user,
                verdict(&out),
                t.user
            )));
        }
        let mut line = pw.0.as_bytes().to_vec();
        line.push(b'\n');
        let out = self.raw(
            &["sudo", "-k", "-S", "-p", "", "--", "true"],
            Some(&line),
            false,
        )?;
        if !out.status.success() {
            return Err(Error::Elevation(format!(
                "{who}: sudo refused the password for user `{}` ({}); nothing was changed on the host",
                t.user,
                verdict(&out)
            )));
        }
        self.feed_password = true;
        Ok(())
    }

    /// Runs `argv` as the login user, without elevation.
    fn raw(&self, argv: &[&str], stdin: Option<&[u8]>, fresh: bool) -> Result<Output, Error> {
        let mut c = self.base(if fresh { Mode::Fresh } else { Mode::Reuse });
        c.arg("--");
        c.arg(
            argv.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        );
        finish_run(&self.target, c, stdin.map(<[u8]>::to_vec))
    }

    /// The password line every elevated command gets first on stdin.
    fn password_line(&self) -> Option<Vec<u8>> {
        let pw = self.target.elevate.password.as_ref()?;
        self.feed_password.then(|| {
            let mut l = pw.0.as_bytes().to_vec();
            l.push(b'\n');
            l
        })
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
            if self.feed_password {
                // the password comes first on stdin (see check_elevation)
                line.extend(["sudo", "-k", "-S", "-p", "''", "--"].map(String::from));
            } else {
                // non-interactive: a password prompt would hang a fleet deploy
                line.extend(
                    self.target
                        .elevate
                        .tool
                        .non_interactive()
                        .iter()
                        .map(|s| s.to_string()),
                );
            }
        }
        line.extend(argv.iter().map(|a| shell_quote(a)));
        c.arg(line.join(" "));
        c
    }

    /// Runs a remote command to completion, feeding it `stdin`.
    pub fn run(&self, argv: &[&str], stdin: Option<&[u8]>, fresh: bool) -> Result<Output, Error> {
        let c = self.command(argv, fresh);
        let data = match (self.password_line(), stdin) {
            (Some(mut pw), Some(d)) => {
                pw.extend_from_slice(d);
                Some(pw)
            }
            (Some(pw), None) => Some(pw),
            (None, d) => d.map(<[u8]>::to_vec),
        };
        finish_run(&self.target, c, data)
    }

    /// Spawns a remote command with piped stdin/stdout/stderr.
    pub fn spawn(&self, argv: &[&str], fresh: bool) -> Result<Child, Error> {
        let mut child = self
            .command(argv, fresh)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Local(format!("running ssh: {e}")))?;
        if let (Some(pw), Some(w)) = (self.password_line(), child.stdin.as_mut()) {
            // a line fits the pipe's buffer: this never blocks
            w.write_all(&pw)
                .map_err(|e| Error::Local(format!("writing to ssh: {e}")))?;
        }
        Ok(child)
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

/// Runs an ssh command to completion with `stdin` (written from a
/// thread: the remote may answer before reading it all).
fn finish_run(t: &Target, mut c: Command, stdin: Option<Vec<u8>>) -> Result<Output, Error> {
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
        let mut w = child.stdin.take().expect("piped stdin");
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Local(format!("running ssh: {e}")))?;
    if out.status.code() == Some(255) {
        return Err(classify(t, &String::from_utf8_lossy(&out.stderr)));
    }
    Ok(out)
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

    /// The remote command line (ssh's last argument) for `argv`.
    fn remote_line(t: Target, feed: bool) -> String {
        let s = Ssh {
            target: t,
            control: PathBuf::from("/nonexistent/x.sock"),
            log: PathBuf::from("/nonexistent/x.log"),
            open: false,
            feed_password: feed,
        };
        let c = s.command(&["/ox/bin/ox", "deploy-remote", "import"], false);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args.join(" ")
    }

    #[test]
    fn elevation_prefix_and_where_the_password_is_not() {
        let pw = Password::new("hunter2-secret".into());
        let mut t = t();
        assert!(remote_line(t.clone(), false).ends_with("-- /ox/bin/ox deploy-remote import"));
        t.user = "deployer".into();
        for (tool, prefix) in [
            (ElevateTool::Sudo, "sudo -n -- /ox"),
            (ElevateTool::Doas, "doas -n -- /ox"),
            (ElevateTool::Run0, "run0 --no-ask-password -- /ox"),
        ] {
            t.elevate = Elevate {
                tool,
                password: Some(pw.clone()),
            };
            assert!(remote_line(t.clone(), false).contains(prefix), "{tool:?}");
        }
        t.elevate.tool = ElevateTool::Sudo;
        let line = remote_line(t.clone(), true);
        assert!(line.contains("sudo -k -S -p '' -- /ox"), "{line}");
        // never on the command line, never in Debug output
        assert!(!line.contains("hunter2"), "{line}");
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(pw.scrub("x hunter2-secret y"), "x <password> y");
        assert_eq!(ElevateTool::parse("doas"), Some(ElevateTool::Doas));
        assert_eq!(ElevateTool::parse("su"), None);
    }

    fn t() -> Target {
        Target {
            name: "web1".into(),
            host: "10.0.0.5".into(),
            user: "root".into(),
            port: Some(2222),
            ssh_options: vec![],
            elevate: Default::default(),
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
