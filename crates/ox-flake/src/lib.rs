//! `ox-flake`: flakes for ox — flake references, fetchers into the store,
//! `flake.lock` in C++ Nix's own format (version 7), the lock algorithm
//! (`follows` at any depth), and calling a flake's `outputs` lazily and
//! purely, with ox's built-in `ox` input.
//!
//! It owns: parsing `flake.nix` declarations, fetching `path:`, `git+file:`
//! / plain git repositories, `tarball`/`file` URLs and `github:` inputs
//! into `<store>/<hash>-source` (named by the NAR hash, so a lock file
//! alone says where a pinned input is cached), writing and updating
//! `flake.lock`, and the `--flake REF#NAME` convention.
//!
//! It must not know about hosts, modules, building or activation: it
//! hands back evaluated flake values (an [`ox_eval::Value`] with its
//! [`ox_eval::Eval`]) and the caller picks `oxConfigurations.<host>`.
//!
//! # Using it from `ox build` / `ox switch`
//!
//! ```no_run
//! use ox_flake::{resolve, Session, Settings};
//! let settings = Settings::from_env(Some("/path/to/ox/nix".into()));
//! let mut session = Session::new(settings).unwrap();
//! // `--flake REF#HOST`; REF defaults to ".", HOST to this machine's name.
//! let r = resolve(&mut session, Some("examples/homelab#brunnen"), ox_flake::LockMode::Write).unwrap();
//! let host_config = r.host_value(&mut session).unwrap(); // outputs.oxConfigurations.brunnen
//! ```
//!
//! [`resolve`] parses the target, copies the flake into the store
//! (respecting git: see [`root_source`]), locks it (writing `flake.lock`
//! when it changed and the mode allows), and returns the root flake value
//! and the host name. Evaluation is pure: no environment variables, file
//! access only inside the store (the flake and its locked inputs), and
//! `<ox>` is the pinned ox input.

pub mod call;
pub mod decl;
pub mod fetch;
pub mod fetchers;
pub mod flakeref;
mod http;
pub mod lock;
pub mod lockfile;
pub mod store;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ox_eval::{Eval, Value};

pub use call::RootSource;
pub use fetch::{FetchSettings, Fetcher, OX_VERSION};
pub use flakeref::FlakeRef;
pub use lockfile::{Edge, LockFile};
pub use store::SourceStore;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid flake reference '{reference}': {why}")]
    BadRef { reference: String, why: String },
    #[error("{file}: {why}")]
    BadFlake { file: String, why: String },
    #[error("lock file '{file}': {why}")]
    BadLock { file: String, why: String },
    #[error("no flake.nix in '{0}'")]
    NoFlake(String),
    #[error("cannot fetch input '{input}': {why}")]
    Fetch { input: String, why: String },
    #[error("input '{input}' follows a non-existent input '{target}'")]
    Follows { input: String, target: String },
    #[error("no input '{0}' in the lock file (inputs: {1})")]
    NoSuchInput(String, String),
    #[error("{context}:\n{message}")]
    Eval { context: String, message: String },
    #[error("store: {0}")]
    Store(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the lock file '{0}' is missing or out of date; run `ox flake lock`")]
    LockOutdated(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Session-wide settings.
#[derive(Clone)]
pub struct Settings {
    /// Where sources are stored (`<dir>/<hash>-source`).
    pub store_dir: PathBuf,
    pub fetch: FetchSettings,
    /// The system evaluation reports as `builtins.currentSystem`.
    pub system: String,
    /// Called on the session's evaluator before any flake is read: how
    /// the CLI adds the native half of `lib` (`builtins.ox`) without this
    /// crate knowing about modules.
    pub eval_hook: Option<fn(&mut Eval)>,
    /// Registers fetched sources in the on-disk store (see [`store::Placer`]).
    pub placer: Option<Rc<dyn store::Placer>>,
}

impl Settings {
    /// Defaults for the CLI: the store dir from `OX_STORE_DIR`, else
    /// `/ox/store` for root and `~/.local/share/ox/store` otherwise; the
    /// GitHub endpoints from `OX_GITHUB_API` / `OX_GITHUB_URL` (tests).
    pub fn from_env(ox_nix_dir: Option<PathBuf>) -> Settings {
        let store_dir = match std::env::var_os("OX_STORE_DIR") {
            Some(d) => PathBuf::from(d),
            // SAFETY: getuid has no preconditions.
            None if unsafe { libc::getuid() } == 0 => PathBuf::from("/ox/store"),
            None => {
                let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
                PathBuf::from(home).join(".local/share/ox/store")
            }
        };
        let mut fetch = FetchSettings {
            ox_nix_dir,
            ..FetchSettings::default()
        };
        if let Ok(u) = std::env::var("OX_GITHUB_API") {
            fetch.github_api = u;
        }
        if let Ok(u) = std::env::var("OX_GITHUB_URL") {
            fetch.github_base = u;
        }
        Settings {
            store_dir,
            fetch,
            system: "x86_64-linux".into(),
            eval_hook: None,
            placer: None,
        }
    }
}

/// Whether locking may write `flake.lock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Write the lock file when it changed (like `nix build`).
    Write,
    /// Never write; fail if the lock is missing or out of date.
    Check,
    /// Compute and use the new lock but leave the file alone.
    NoWrite,
}

/// One process's flake work: a store, a fetcher and an evaluator.
pub struct Session {
    pub settings: Settings,
    pub fetcher: Rc<RefCell<Fetcher>>,
    pub ev: Eval,
}

impl Session {
    pub fn new(settings: Settings) -> Result<Session, Error> {
        let store_dir = std::path::absolute(&settings.store_dir)
            .map_err(|e| Error::io("resolving the store dir", e))?;
        std::fs::create_dir_all(&store_dir)
            .map_err(|e| Error::io(format!("creating store dir '{}'", store_dir.display()), e))?;
        let mut store = SourceStore::new(&store_dir)?;
        if let Some(p) = &settings.placer {
            store = store.with_placer(p.clone());
        }
        let mut fetcher = Fetcher::new(store, settings.fetch.clone());
        // `<ox>` during evaluation is the pinned copy of ox's nix/ tree.
        let mut search_path = Vec::new();
        if settings
            .fetch
            .ox_nix_dir
            .as_ref()
            .is_some_and(|d| d.is_dir())
        {
            let ox = fetcher.fetch(&FlakeRef::new("indirect").with("id", "ox"), None)?;
            search_path.push(("ox".to_string(), ox.src.to_string_lossy().into_owned()));
        }
        let sd = store_dir.to_string_lossy().into_owned();
        let mut ev = Eval::new(ox_eval::Settings {
            pure: true,
            search_path,
            store_dir: sd.clone(),
            system: settings.system.clone(),
            allowed_paths: Some(vec![sd]),
        });
        if let Some(hook) = settings.eval_hook {
            hook(&mut ev);
        }
        let fetcher = Rc::new(RefCell::new(fetcher));
        fetchers::install(&mut ev, fetcher.clone());
        Ok(Session {
            settings: Settings {
                store_dir,
                ..settings
            },
            fetcher,
            ev,
        })
    }
}

/// A locked flake.
#[derive(Clone, Debug)]
pub struct Flake {
    /// The flake's directory as given (outside the store).
    pub dir: PathBuf,
    pub root: RootSource,
    pub description: Option<String>,
    pub lock: LockFile,
    pub old_lock: Option<LockFile>,
    /// The root's reference as `ox flake metadata` shows it.
    pub locked_ref: FlakeRef,
}

impl Flake {
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("flake.lock")
    }
    /// The root reference without what locking adds.
    pub fn original_ref(&self) -> FlakeRef {
        let mut original = self.locked_ref.clone();
        for k in ["narHash", "lastModified", "rev", "revCount"] {
            original.attrs.remove(k);
        }
        original
    }

    /// `ox flake metadata --json`, with the keys of `nix flake metadata
    /// --json` (`path` is ox's store path).
    pub fn metadata_json(&self) -> String {
        let locks: serde_json::Value =
            serde_json::from_str(&self.lock.to_json_string()).unwrap_or(serde_json::Value::Null);
        let original = self.original_ref();
        let mut m = serde_json::Map::new();
        if let Some(d) = &self.description {
            m.insert("description".into(), d.clone().into());
        }
        if let Some(t) = self.root.last_modified {
            m.insert("lastModified".into(), t.into());
        }
        m.insert("locked".into(), self.locked_ref.to_json());
        m.insert("locks".into(), locks);
        m.insert("original".into(), original.to_json());
        m.insert("originalUrl".into(), original.to_url().into());
        m.insert("path".into(), self.root.src.display().to_string().into());
        m.insert("resolved".into(), original.to_json());
        m.insert("resolvedUrl".into(), original.to_url().into());
        if let Some(r) = &self.root.rev {
            m.insert("revision".into(), r.clone().into());
        }
        m.insert("url".into(), self.locked_ref.to_url().into());
        serde_json::Value::Object(m).to_string()
    }

    pub fn lock_changed(&self) -> bool {
        self.old_lock.as_ref().map(|l| l.to_json_string()) != Some(self.lock.to_json_string())
    }
}

/// Copy the flake in `dir` into the store. The rule: if `dir` is inside a
/// git work tree, only the files git tracks (`git ls-files`: committed or
/// staged, with their work-tree contents) are copied — untracked files are
/// invisible to the flake, as in Nix; otherwise the whole directory is.
/// Only the flake's own directory is copied (not the rest of an enclosing
/// repository), so `self.outPath` is the flake directory.
pub fn root_source(fetcher: &mut Fetcher, dir: &Path) -> Result<(RootSource, FlakeRef), Error> {
    if !dir.join("flake.nix").is_file() {
        return Err(Error::NoFlake(dir.display().to_string()));
    }
    let in_git =
        fetch::git(dir, &["rev-parse", "--is-inside-work-tree"]).is_ok_and(|s| s == "true");
    if in_git {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["ls-files", "-z", "--cached", "--", "."])
            .output()
            .map_err(|e| Error::io("running git ls-files", e))?;
        let files: Vec<PathBuf> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()))
            .collect();
        if !files.iter().any(|f| f == Path::new("flake.nix")) {
            return Err(Error::BadFlake {
                file: dir.join("flake.nix").display().to_string(),
                why: "flake.nix is not tracked by git; ox copies only tracked files of a flake in a git repository (run `git add flake.nix`)".into(),
            });
        }
        let added = fetcher.store.add_tree(dir, Some(&files))?;
        let top = fetch::git(dir, &["rev-parse", "--show-toplevel"]).unwrap_or_default();
        let sub = fetch::git(dir, &["rev-parse", "--show-prefix"]).unwrap_or_default();
        let head = fetch::git(dir, &["rev-parse", "--verify", "--quiet", "HEAD"]).ok();
        let dirty = fetch::git(
            dir,
            &["status", "--porcelain", "--untracked-files=no", "--", "."],
        )
        .map(|s| !s.is_empty())
        .unwrap_or(true);
        let (last_modified, rev_count) = match &head {
            Some(h) => (
                fetch::git(dir, &["log", "-1", "--format=%ct", h])
                    .ok()
                    .and_then(|s| s.parse().ok()),
                fetch::git(dir, &["rev-list", "--count", h])
                    .ok()
                    .and_then(|s| s.parse().ok()),
            ),
            None => (None, None),
        };
        let rev = if dirty { None } else { head.clone() };
        let mut r = FlakeRef::new("git").with("url", format!("file://{}", top));
        let sub = sub.trim_end_matches('/');
        if !sub.is_empty() {
            r = r.with("dir", sub);
        }
        if let Some(rv) = &rev {
            r = r.with("rev", rv.as_str());
        }
        if let Some(t) = last_modified {
            r.set("lastModified", flakeref::Attr::Int(t));
        }
        if let (Some(c), Some(_)) = (rev_count, &rev) {
            r.set("revCount", flakeref::Attr::Int(c));
        }
        r = r.with("narHash", added.nar_hash.to_sri());
        Ok((
            RootSource {
                src: added.path,
                nar_hash: added.nar_hash.to_sri(),
                last_modified,
                rev,
                rev_count: rev_count.filter(|_| !dirty),
            },
            r,
        ))
    } else {
        let last_modified = store::newest_mtime(dir)?;
        let added = fetcher.store.add_tree(dir, None)?;
        let mut r = FlakeRef::new("path").with("path", dir.display().to_string());
        r.set("lastModified", flakeref::Attr::Int(last_modified));
        r = r.with("narHash", added.nar_hash.to_sri());
        Ok((
            RootSource {
                src: added.path,
                nar_hash: added.nar_hash.to_sri(),
                last_modified: Some(last_modified),
                rev: None,
                rev_count: None,
            },
            r,
        ))
    }
}

/// Lock the flake in `dir`. `updates` are input paths (`a`, `a/b`) to
/// re-resolve; `update_all` ignores the old lock entirely.
pub fn lock_flake(
    session: &mut Session,
    dir: &Path,
    updates: &[String],
    update_all: bool,
    mode: LockMode,
) -> Result<Flake, Error> {
    let dir = std::path::absolute(dir).map_err(|e| Error::io("resolving the flake dir", e))?;
    session.fetcher.borrow_mut().forget_unlocked();
    let (root, locked_ref) = root_source(&mut session.fetcher.borrow_mut(), &dir)?;
    let decl = decl::read_flake(&mut session.ev, &root.src)?;
    let lock_path = dir.join("flake.lock");
    let old_lock = match std::fs::read_to_string(&lock_path) {
        Ok(t) => Some(LockFile::parse(&t, &lock_path.display().to_string())?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("reading '{}'", lock_path.display()), e)),
    };
    let update_paths: Vec<Vec<String>> = updates
        .iter()
        .map(|u| {
            u.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect();
    for (u, p) in updates.iter().zip(&update_paths) {
        let known_in_old = old_lock
            .as_ref()
            .is_some_and(|l| l.resolve_path(p).is_some());
        let known_in_decl = p.len() == 1 && decl.inputs.contains_key(&p[0]);
        if !known_in_old && !known_in_decl {
            let names: Vec<&str> = decl.inputs.keys().map(|s| s.as_str()).collect();
            return Err(Error::NoSuchInput(u.clone(), names.join(", ")));
        }
    }
    let lock = {
        let mut fetcher = session.fetcher.borrow_mut();
        let mut locker = lock::Locker::new(&mut fetcher, &mut session.ev, update_paths);
        let guide = if update_all { None } else { old_lock.as_ref() };
        locker.lock(&decl.inputs, &root.src, guide)?
    };
    let flake = Flake {
        dir: dir.clone(),
        root,
        description: decl.description,
        lock,
        old_lock,
        locked_ref,
    };
    if flake.lock_changed() {
        match mode {
            LockMode::Write => write_lock(&flake)?,
            LockMode::Check => return Err(Error::LockOutdated(lock_path.display().to_string())),
            LockMode::NoWrite => {}
        }
    }
    Ok(flake)
}

fn write_lock(flake: &Flake) -> Result<(), Error> {
    let p = flake.lock_path();
    let tmp = flake.dir.join(".flake.lock.tmp");
    std::fs::write(&tmp, flake.lock.to_json_string())
        .map_err(|e| Error::io(format!("writing '{}'", tmp.display()), e))?;
    std::fs::rename(&tmp, &p).map_err(|e| Error::io(format!("writing '{}'", p.display()), e))
}

/// The root flake's value (outputs merged with `self`'s attributes).
pub fn flake_value(session: &mut Session, flake: &Flake) -> Result<Value, Error> {
    call::call_flake(
        &mut session.ev,
        session.fetcher.clone(),
        &flake.lock,
        &flake.root,
    )
}

/// Lines describing how the lock changed, like `nix flake update`.
pub fn describe_changes(old: Option<&LockFile>, new: &LockFile) -> Vec<String> {
    use std::collections::BTreeMap;
    let describe = |l: &LockFile| -> BTreeMap<String, String> {
        l.input_paths()
            .into_iter()
            .map(|(p, e)| {
                let d = match e {
                    Edge::Node(k) => match l.nodes.get(&k).and_then(|n| n.locked.as_ref()) {
                        Some(r) => node_summary(r),
                        None => k,
                    },
                    Edge::Follows(t) => format!("follows '{}'", t.join("/")),
                };
                (p.join("/"), d)
            })
            .collect()
    };
    let o = old.map(describe).unwrap_or_default();
    let n = describe(new);
    let mut out = Vec::new();
    for (k, v) in &n {
        match o.get(k) {
            None => out.push(format!("• Added input '{}':\n    {}", k, v)),
            Some(ov) if ov != v => {
                out.push(format!("• Updated input '{}':\n    {}\n  → {}", k, ov, v))
            }
            _ => {}
        }
    }
    for k in o.keys() {
        if !n.contains_key(k) {
            out.push(format!("• Removed input '{}'", k));
        }
    }
    out
}

/// `'url' (date)` for a locked reference, as Nix prints it.
pub fn node_summary(r: &FlakeRef) -> String {
    let mut r2 = r.clone();
    r2.attrs.remove("lastModified");
    r2.attrs.remove("revCount");
    let url = r2.to_url();
    match r.int("lastModified") {
        Some(t) if t > 1 => {
            let d = call::date_string(t);
            format!("'{}' ({}-{}-{})", url, &d[0..4], &d[4..6], &d[6..8])
        }
        _ => format!("'{}'", url),
    }
}

/// A `--flake REF#NAME` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub dir: PathBuf,
    pub name: String,
}

/// Parse `REF#NAME`. REF (a directory, or `path:`/`git+file:` to one)
/// defaults to the current directory; NAME to `default_name` (this
/// machine's host name).
pub fn parse_target(s: Option<&str>, default_name: &str) -> Result<Target, Error> {
    let s = s.unwrap_or(".");
    let (r, name) = match s.split_once('#') {
        Some((r, n)) => (r, n),
        None => (s, ""),
    };
    let r = if r.is_empty() { "." } else { r };
    let dir = if let Some(p) = r.strip_prefix("path:") {
        PathBuf::from(p)
    } else if let Some(p) = r.strip_prefix("git+file://") {
        PathBuf::from(p.split('?').next().unwrap_or(p))
    } else if !r.contains(':') {
        PathBuf::from(r)
    } else {
        return Err(Error::BadRef {
            reference: r.to_string(),
            why: "ox builds from a local flake: give a directory (default: the current one)".into(),
        });
    };
    let name = if name.is_empty() {
        default_name.to_string()
    } else {
        name.to_string()
    };
    Ok(Target { dir, name })
}

/// This machine's host name (`/proc/sys/kernel/hostname`).
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The result of [`resolve`].
pub struct Resolved {
    pub flake: Flake,
    /// The root flake value (outputs merged with `self`'s attributes).
    pub outputs: Value,
    /// The host (attribute) name from `#NAME`, or this machine's name.
    pub host: String,
}

impl Resolved {
    /// `outputs.oxConfigurations.<host>`, forced to weak head normal form.
    pub fn host_value(&self, session: &mut Session) -> Result<Value, Error> {
        select(
            session,
            self.outputs.clone(),
            &["oxConfigurations", &self.host],
        )
    }
}

/// Resolve `--flake REF#HOST` (both optional) into the locked flake's
/// outputs and the host name. This is what `ox build` and `ox switch`
/// call.
pub fn resolve(
    session: &mut Session,
    target: Option<&str>,
    mode: LockMode,
) -> Result<Resolved, Error> {
    let t = parse_target(target, &this_host())?;
    let flake = lock_flake(session, &t.dir, &[], false, mode)?;
    let outputs = flake_value(session, &flake)?;
    Ok(Resolved {
        flake,
        outputs,
        host: t.name,
    })
}

/// Select an attribute path from a value, with a clear error naming the
/// missing attribute and what exists instead.
pub fn select(session: &mut Session, v: Value, path: &[&str]) -> Result<Value, Error> {
    let mut cur = v;
    let mut done: Vec<&str> = Vec::new();
    for name in path {
        let forced = session.ev.force(cur).map_err(|e| Error::Eval {
            context: format!("while evaluating '{}'", done.join(".")),
            message: ox_eval::render(&e, false),
        })?;
        let Value::Attrs(a) = &forced else {
            return Err(Error::Eval {
                context: format!("while selecting '{}'", path.join(".")),
                message: format!(
                    "'{}' is {}, not an attribute set",
                    done.join("."),
                    forced.type_name()
                ),
            });
        };
        match a.get(name) {
            Some(x) => cur = x.clone(),
            None => {
                let names: Vec<&str> = a.entries().iter().map(|(k, _)| *k).collect();
                let mut p = done.clone();
                p.push(name);
                return Err(Error::Eval {
                    context: format!("while selecting '{}'", path.join(".")),
                    message: format!(
                        "the flake has no attribute '{}' (available: {})",
                        p.join("."),
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                });
            }
        }
        done.push(name);
    }
    session.ev.force(cur).map_err(|e| Error::Eval {
        context: format!("while evaluating '{}'", path.join(".")),
        message: ox_eval::render(&e, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_default_to_here_and_this_host() {
        let t = parse_target(None, "kiesel").unwrap();
        assert_eq!(
            t,
            Target {
                dir: ".".into(),
                name: "kiesel".into()
            }
        );
        let t = parse_target(Some("examples/homelab#brunnen"), "x").unwrap();
        assert_eq!(t.dir, PathBuf::from("examples/homelab"));
        assert_eq!(t.name, "brunnen");
        let t = parse_target(Some("#itw"), "x").unwrap();
        assert_eq!(
            t,
            Target {
                dir: ".".into(),
                name: "itw".into()
            }
        );
        let t = parse_target(Some("path:/srv/fleet#a"), "x").unwrap();
        assert_eq!(t.dir, PathBuf::from("/srv/fleet"));
        let t = parse_target(Some("git+file:///srv/fleet?ref=main#a"), "x").unwrap();
        assert_eq!(t.dir, PathBuf::from("/srv/fleet"));
        assert!(parse_target(Some("github:o/r#a"), "x").is_err());
    }

    #[test]
    fn lock_json_round_trips_in_nix_layout() {
        let text = "{\n  \"nodes\": {\n    \"a\": {\n      \"flake\": false,\n      \"inputs\": {\n        \"b\": [\n          \"c\"\n        ]\n      },\n      \"locked\": {\n        \"lastModified\": 5,\n        \"narHash\": \"sha256-AAAA\",\n        \"path\": \"/x\",\n        \"type\": \"path\"\n      },\n      \"original\": {\n        \"path\": \"/x\",\n        \"type\": \"path\"\n      }\n    },\n    \"root\": {\n      \"inputs\": {\n        \"a\": \"a\"\n      }\n    }\n  },\n  \"root\": \"root\",\n  \"version\": 7\n}\n";
        let l = LockFile::parse(text, "t").unwrap();
        assert_eq!(l.to_json_string(), text);
        assert!(LockFile::parse("{\"version\": 3}", "t").is_err());
    }
}
