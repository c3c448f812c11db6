//! Activation: make a running Debian host (or an alternate root) match
//! an ox toplevel, atomically, and keep its generations.
//!
//! Owns everything after the toplevel exists (docs/toplevel.md is the
//! contract): /etc entries, users and groups, tmpfiles, systemd units
//! (switch-to-configuration-ng's rules, see [`unit`]), Debian packages,
//! per-user home files and `home.activation`, the profile of
//! generations (`/ox/var/profiles`), `/run/ox/{current,booted}-system`,
//! and the journal that makes an interrupted switch finish or roll back.
//! docs/activation.md describes the state files and the algorithm.
//!
//! It must not know about Nix evaluation or how a toplevel is built:
//! its only input is the toplevel directory.

use std::path::{Path, PathBuf};

pub mod engine;
pub mod etc;
pub mod fixture;
pub mod home;
pub mod packages;
pub mod plan;
pub mod profile;
pub mod secrets;
pub mod state;
pub mod systemd;
pub mod unit;
pub mod users;

pub use engine::{activate, boot_time, recover, Action, Options, Report};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {msg}", path.display())]
    Plan { path: PathBuf, msg: String },
    #[error("{}", conflicts_msg(.0))]
    Conflicts(Vec<String>),
    #[error("`{cmd}` failed ({status}){}", if .output.is_empty() { String::new() } else { format!(":\n{}", .output.trim_end()) })]
    Command {
        cmd: String,
        status: String,
        output: String,
    },
    #[error("another activation holds {}", .0.display())]
    Locked(PathBuf),
    #[error("{0}")]
    Other(String),
}

fn conflicts_msg(c: &[String]) -> String {
    let mut s = format!(
        "refusing to switch: {} unmanaged path(s) in the way (nothing was changed):\n",
        c.len()
    );
    for x in c {
        s.push_str("  ");
        s.push_str(x);
        s.push('\n');
    }
    s.push_str("set onConflict = \"backup\" or \"replace\" on the entry, or move the file away");
    s
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where activation keeps its files, under a root (`/` normally).
#[derive(Clone, Debug)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    pub fn new(root: &Path) -> Paths {
        Paths {
            root: root.to_path_buf(),
        }
    }
    /// A path inside the root (`/etc/x` → `<root>/etc/x`).
    pub fn at(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.at("/ox/var/activate")
    }
    pub fn state_file(&self) -> PathBuf {
        self.state_dir().join("state.json")
    }
    pub fn journal(&self) -> PathBuf {
        self.state_dir().join("journal.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.state_dir().join("lock")
    }
    pub fn profiles(&self) -> PathBuf {
        self.at("/ox/var/profiles")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.at("/run/ox")
    }
    pub fn current_system(&self) -> PathBuf {
        self.run_dir().join("current-system")
    }
    pub fn booted_system(&self) -> PathBuf {
        self.run_dir().join("booted-system")
    }
    /// `/etc/ox-static`: the one symlink whose flip switches every
    /// symlinked /etc entry to the new generation at once.
    pub fn etc_static(&self) -> PathBuf {
        self.at("/etc/ox-static")
    }
}

/// Write a file atomically (temp file in the same directory, fsync,
/// rename).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = dir.join(format!(
        ".{}.ox-tmp-{}",
        path.file_name()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(())
}

/// Point symlink `link` at `dest` atomically (new link + rename).
pub fn symlink_atomic(dest: &Path, link: &Path) -> Result<(), Error> {
    let dir = link.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = dir.join(format!(
        ".{}.ox-tmp-{}",
        link.file_name()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(dest, &tmp).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, link).map_err(io_err(link))?;
    Ok(())
}

/// Run a command; its combined output on failure becomes the error.
pub(crate) fn run(cmd: &mut std::process::Command) -> Result<String, Error> {
    let out = cmd.output().map_err(|e| Error::Command {
        cmd: fmt_cmd(cmd),
        status: e.to_string(),
        output: String::new(),
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            cmd: fmt_cmd(cmd),
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn fmt_cmd(cmd: &std::process::Command) -> String {
    let prog = cmd.get_program().to_string_lossy();
    let shadow = prog.ends_with("useradd") || prog.ends_with("usermod");
    let mut prev_p = false;
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            // a password hash (useradd/usermod -p) may come from a secret
            let shown = if prev_p {
                "<hash>".to_string()
            } else {
                a.to_string_lossy().into_owned()
            };
            prev_p = shadow && a == "-p";
            shown
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Test hook: `OX_ACTIVATE_FAULT=<point>` kills the process with SIGKILL
/// when activation reaches `<point>`, to prove that an interrupted
/// switch is finished or undone by the next run.
pub(crate) fn fault_point(name: &str) {
    if std::env::var("OX_ACTIVATE_FAULT").as_deref() == Ok(name) {
        // SAFETY: signalling ourselves.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
