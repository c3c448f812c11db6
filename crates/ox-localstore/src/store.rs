//! The store itself: where it lives, its SQLite database of valid paths
//! and roots, and the primitive "make this finished tree a valid path".

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ox_store::{FileIngestionMethod, Hash, HashAlgo, StoreDir, StorePath};
use rusqlite::{params, Connection, OptionalExtension};

use crate::fsutil;
use crate::refs;
use crate::StoreError;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a store lives.
///
/// `store_dir` is the *logical* store directory: the prefix of every
/// store path and part of every path's hash. `root` is a physical prefix
/// under which the store and state directories are found (like Nix's
/// `--store /some/root`): `/` for the real store, a temporary directory
/// in tests. Paths built under any root are identical, because builders
/// always see the store at its logical location.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub store_dir: String,
    pub root: PathBuf,
    /// Physical state directory (database, roots, logs, profiles).
    pub state_dir: PathBuf,
}

pub const DEFAULT_STORE_DIR: &str = "/ox/store";
pub const DEFAULT_STATE_DIR: &str = "/ox/var";

/// Links activation keeps (below the store's root) that are GC roots
/// besides the profiles: the running and the booted system, and the
/// flip link every managed /etc entry goes through (docs/activation.md).
pub const ACTIVE_SYSTEM_LINKS: [&str; 3] = [
    "/run/ox/current-system",
    "/run/ox/booted-system",
    "/etc/ox-static",
];

impl StoreConfig {
    /// `OX_STORE_DIR` (default `/ox/store`), `OX_STORE_ROOT` (default
    /// `/` for root; for other users a per-user root,
    /// `$XDG_DATA_HOME/ox/root` or `~/.local/share/ox/root`, with the same
    /// logical paths) and `OX_STATE_DIR` (default `<root>/ox/var`, or the
    /// `var` directory beside a non-default store directory).
    pub fn from_env() -> StoreConfig {
        let store_dir =
            std::env::var("OX_STORE_DIR").unwrap_or_else(|_| DEFAULT_STORE_DIR.to_string());
        let root = std::env::var_os("OX_STORE_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(default_root);
        let mut cfg = StoreConfig::with_root(&root, &store_dir);
        if let Some(s) = std::env::var_os("OX_STATE_DIR") {
            cfg.state_dir = PathBuf::from(s);
        }
        cfg
    }

    /// A store with logical directory `store_dir` physically under `root`.
    pub fn with_root(root: &Path, store_dir: &str) -> StoreConfig {
        let logical_state = if store_dir == DEFAULT_STORE_DIR {
            PathBuf::from(DEFAULT_STATE_DIR)
        } else {
            Path::new(store_dir)
                .parent()
                .unwrap_or(Path::new("/"))
                .join("var")
        };
        StoreConfig {
            store_dir: store_dir.to_string(),
            root: root.to_path_buf(),
            state_dir: reroot(root, &logical_state),
        }
    }
}

fn default_root() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    data.join("ox/root")
}

fn reroot(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

/// What the database knows about a valid path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathInfo {
    pub path: StorePath,
    pub nar_hash: Hash,
    pub nar_size: u64,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub registration_time: i64,
    /// Content address (`fixed:r:sha256:…`, `text:sha256:…`) if any.
    pub ca: Option<String>,
}

/// A finished tree waiting to become a valid path.
pub struct PendingPath {
    /// Where it was built (physically, inside the store's filesystem).
    pub tmp: PathBuf,
    pub path: StorePath,
    pub references: BTreeSet<StorePath>,
    pub deriver: Option<StorePath>,
    pub ca: Option<String>,
}

/// An open store. Cheap to share between build threads (`&Store`).
pub struct Store {
    pub config: StoreConfig,
    pub dir: StoreDir,
    /// Physical store directory.
    real: PathBuf,
    db: Mutex<Connection>,
    tmp_counter: AtomicU64,
}

/// An exclusive lock on a file (flock), released on drop.
pub struct FileLock {
    file: fs::File,
}

impl FileLock {
    fn acquire(path: &Path, exclusive: bool, block: bool) -> io::Result<Option<FileLock>> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        let mut op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        if !block {
            op |= libc::LOCK_NB;
        }
        loop {
            // SAFETY: flock on a file descriptor we own.
            let r = unsafe { libc::flock(file.as_raw_fd(), op) };
            if r == 0 {
                return Ok(Some(FileLock { file }));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) if !block => return Ok(None),
                _ => return Err(e),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own descriptor; closing it would unlock too.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ValidPaths (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    path             TEXT UNIQUE NOT NULL,
    hash             TEXT NOT NULL,
    registrationTime INTEGER NOT NULL,
    deriver          TEXT,
    narSize          INTEGER NOT NULL,
    ca               TEXT
);
CREATE TABLE IF NOT EXISTS Refs (
    referrer  INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE CASCADE,
    reference INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE RESTRICT,
    PRIMARY KEY (referrer, reference)
);
CREATE INDEX IF NOT EXISTS IndexReference ON Refs(reference);
CREATE TABLE IF NOT EXISTS Roots (
    link   TEXT PRIMARY KEY NOT NULL,
    target TEXT NOT NULL,
    kind   TEXT NOT NULL
);
";

enum InitError {
    Busy(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for InitError {
    fn from(e: rusqlite::Error) -> InitError {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                InitError::Busy(e)
            }
            _ => InitError::Store(db_err(e)),
        }
    }
}

/// Journal mode, pragmas and schema of a freshly opened connection.
fn init_db(conn: &Connection, db_path: &Path) -> std::result::Result<(), InitError> {
    // WAL lets readers run beside a writer (and is stored in the file, so
    // only a new database needs the switch); synchronous=FULL makes a
    // committed registration survive a power cut.
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // The schema version, for migrations by later ox versions.
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(InitError::Store(StoreError::Db(format!(
            "{} has schema version {version}; this ox understands up to {SCHEMA_VERSION}",
            db_path.display()
        ))));
    }
    if version < SCHEMA_VERSION {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.into();
    move |e| StoreError::Io { what, source: e }
}

impl Store {
    /// Opens (creating if needed) the store described by `config`.
    pub fn open(config: StoreConfig) -> Result<Store> {
        let dir = StoreDir::new(&config.store_dir)
            .map_err(|e| StoreError::Config(format!("store directory: {e}")))?;
        let real = reroot(&config.root, Path::new(&config.store_dir));
        for d in [
            real.clone(),
            config.state_dir.clone(),
            config.state_dir.join("db"),
            config.state_dir.join("locks"),
            config.state_dir.join("log"),
            config.state_dir.join("gcroots"),
            config.state_dir.join("profiles"),
        ] {
            fs::create_dir_all(&d).map_err(io_err(format!("creating {}", d.display())))?;
        }
        let db_path = config.state_dir.join("db").join("db.sqlite");
        let conn = Connection::open(&db_path)
            .map_err(|e| StoreError::Db(format!("opening {}: {}", db_path.display(), e)))?;
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(db_err)?;
        // Several ox processes open the same store at once (parallel
        // builds, deploy workers). Switching to WAL and creating the schema
        // need the write lock, and SQLite answers some of those lock waits
        // with SQLITE_BUSY at once instead of calling the busy handler, so
        // the set-up is retried; it only writes when the file is new or
        // older than this ox.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut pause = std::time::Duration::from_millis(5);
        loop {
            match init_db(&conn, &db_path) {
                Err(InitError::Busy(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(200));
                }
                Err(InitError::Busy(e)) => return Err(db_err(e)),
                Err(InitError::Store(e)) => return Err(e),
                Ok(()) => break,
            }
        }
        Ok(Store {
            config,
            dir,
            real,
            db: Mutex::new(conn),
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// Opens the store configured by the environment (see [`StoreConfig::from_env`]).
    pub fn open_default() -> Result<Store> {
        Store::open(StoreConfig::from_env())
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (every
        // change is a transaction), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The physical location of the store directory.
    pub fn real_store_dir(&self) -> &Path {
        &self.real
    }

    /// Where a store path physically is.
    pub fn real_path(&self, p: &StorePath) -> PathBuf {
        self.real.join(p.base_name())
    }

    /// Physical location of a logical path inside the store (a store path
    /// or something below one); `None` if it is not in the store.
    pub fn real_path_of_str(&self, logical: &str) -> Option<PathBuf> {
        let rest = logical.strip_prefix(self.dir.as_str())?.strip_prefix('/')?;
        Some(self.real.join(rest))
    }

    pub fn print(&self, p: &StorePath) -> String {
        self.dir.print(p)
    }

    /// Parses a full store path, or a path below one (`/ox/store/…-x/bin/y`).
    pub fn parse(&self, s: &str) -> Result<StorePath> {
        match self.dir.split_path(s) {
            Ok((p, _)) => Ok(p),
            Err(e) => Err(StoreError::NotInStore(format!("{e}"))),
        }
    }

    /// A fresh scratch directory on the store's filesystem (so results can
    /// be renamed into place). Left-overs of killed builds are removed by
    /// [`Store::gc`].
    pub fn scratch_dir(&self, tag: &str) -> Result<PathBuf> {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let p = self
            .real
            .join(format!(".ox-tmp-{}-{}-{}", std::process::id(), n, tag));
        fsutil::remove_tree(&p).map_err(io_err(format!("clearing {}", p.display())))?;
        fs::create_dir(&p).map_err(io_err(format!("creating {}", p.display())))?;
        Ok(p)
    }

    /// Locks a store path against concurrent builds of it (also across
    /// processes).
    pub fn lock_path(&self, p: &StorePath) -> Result<FileLock> {
        let lp = self
            .config
            .state_dir
            .join("locks")
            .join(format!("{}.lock", p.hash_part()));
        FileLock::acquire(&lp, true, true)
            .map_err(io_err(format!("locking {}", lp.display())))?
            .ok_or_else(|| StoreError::Config("lock unexpectedly busy".into()))
    }

    /// An exclusive store-wide lock named `name`.
    pub fn global_lock(&self, name: &str) -> Result<FileLock> {
        let lp = self
            .config
            .state_dir
            .join("locks")
            .join(format!("{name}.lock"));
        FileLock::acquire(&lp, true, true)
            .map_err(io_err(format!("locking {}", lp.display())))?
            .ok_or_else(|| StoreError::Config("lock unexpectedly busy".into()))
    }

    /// A shared lock held while building: the garbage collector takes it
    /// exclusively, so it never deletes what a running build uses.
    pub fn build_lock(&self) -> Result<FileLock> {
        let lp = self.config.state_dir.join("gc.lock");
        FileLock::acquire(&lp, false, true)
            .map_err(io_err(format!("locking {}", lp.display())))?
            .ok_or_else(|| StoreError::Config("lock unexpectedly busy".into()))
    }

    // -----------------------------------------------------------------
    // Queries

    pub fn is_valid(&self, p: &StorePath) -> Result<bool> {
        let db = self.db();
        let n: Option<i64> = db
            .query_row(
                "SELECT id FROM ValidPaths WHERE path = ?1",
                params![self.print(p)],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err)?;
        Ok(n.is_some())
    }

    pub fn path_info(&self, p: &StorePath) -> Result<Option<PathInfo>> {
        let db = self.db();
        let row = db
            .query_row(
                "SELECT id, hash, registrationTime, deriver, narSize, ca FROM ValidPaths WHERE path = ?1",
                params![self.print(p)],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(db_err)?;
        let Some((id, hash, time, deriver, size, ca)) = row else {
            return Ok(None);
        };
        let mut stmt = db
            .prepare_cached(
                "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.reference WHERE r.referrer = ?1",
            )
            .map_err(db_err)?;
        let refs = stmt
            .query_map(params![id], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let mut references = BTreeSet::new();
        for r in refs {
            references.insert(self.parse(&r)?);
        }
        let nar_hash = Hash::parse(&hash, Some(HashAlgo::Sha256))
            .map_err(|e| StoreError::Db(format!("bad hash of {}: {e}", self.print(p))))?;
        let deriver = match deriver {
            Some(d) => Some(self.parse(&d)?),
            None => None,
        };
        Ok(Some(PathInfo {
            path: p.clone(),
            nar_hash,
            nar_size: size as u64,
            references,
            deriver,
            registration_time: time,
            ca,
        }))
    }

    pub fn references(&self, p: &StorePath) -> Result<BTreeSet<StorePath>> {
        match self.path_info(p)? {
            Some(i) => Ok(i.references),
            None => Err(StoreError::NotValid(self.print(p))),
        }
    }

    /// The closure of `paths` under references (including themselves).
    pub fn closure(&self, paths: &[StorePath]) -> Result<BTreeSet<StorePath>> {
        let mut seen = BTreeSet::new();
        let mut todo: VecDeque<StorePath> = paths.iter().cloned().collect();
        while let Some(p) = todo.pop_front() {
            if seen.contains(&p) {
                continue;
            }
            for r in self.references(&p)? {
                if !seen.contains(&r) {
                    todo.push_back(r);
                }
            }
            seen.insert(p);
        }
        Ok(seen)
    }

    /// Every valid path.
    pub fn all_valid(&self) -> Result<Vec<StorePath>> {
        let db = self.db();
        let mut stmt = db
            .prepare("SELECT path FROM ValidPaths ORDER BY path")
            .map_err(db_err)?;
        let v = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        drop(stmt);
        drop(db);
        v.iter().map(|s| self.parse(s)).collect()
    }

    // -----------------------------------------------------------------
    // Adding paths

    /// Makes finished trees valid paths, all or nothing: each is
    /// normalised and fsynced, its NAR hashed, renamed into place, the
    /// store directory fsynced, and only then are they registered (in one
    /// transaction). A crash before the commit leaves no valid path.
    pub fn register(&self, pending: Vec<PendingPath>) -> Result<Vec<PathInfo>> {
        let n = pending.len();
        self.register_known(pending, vec![None; n], false)
    }

    /// [`Store::register`] for many small paths: instead of an fsync per
    /// file, one `syncfs` of the store's filesystem before the renames.
    pub fn register_batch(&self, pending: Vec<PendingPath>) -> Result<Vec<PathInfo>> {
        let n = pending.len();
        self.register_known(pending, vec![None; n], true)
    }

    /// Registration with the NAR hashes the caller already computed
    /// (`nars[i]` for `pending[i]`).
    pub(crate) fn register_known(
        &self,
        pending: Vec<PendingPath>,
        nars: Vec<Option<ox_store::NarInfo>>,
        batch: bool,
    ) -> Result<Vec<PathInfo>> {
        let mut infos = Vec::new();
        for (p, known) in pending.iter().zip(nars) {
            fsutil::normalise(&p.tmp, !batch)
                .map_err(io_err(format!("finishing {}", self.print(&p.path))))?;
            let nar = match known {
                Some(n) => n,
                None => ox_store::nar_hash(&p.tmp, HashAlgo::Sha256)
                    .map_err(|e| StoreError::Nar(format!("{}: {e}", self.print(&p.path))))?,
            };
            infos.push(PathInfo {
                path: p.path.clone(),
                nar_hash: nar.hash,
                nar_size: nar.size,
                references: p.references.clone(),
                deriver: p.deriver.clone(),
                registration_time: now(),
                ca: p.ca.clone(),
            });
        }
        if batch {
            sync_fs(&self.real).map_err(io_err("syncing the store filesystem"))?;
        }
        for p in &pending {
            let dst = self.real_path(&p.path);
            // Something at the final name that is not valid is the rest of
            // an interrupted registration: replace it.
            if fs::symlink_metadata(&dst).is_ok() {
                fsutil::remove_tree(&dst).map_err(io_err(format!("removing {}", dst.display())))?;
            }
            fs::rename(&p.tmp, &dst).map_err(io_err(format!(
                "moving {} to {}",
                p.tmp.display(),
                dst.display()
            )))?;
        }
        fsutil::sync_dir(&self.real).map_err(io_err("syncing the store directory"))?;
        self.register_infos(&infos)?;
        Ok(infos)
    }

    /// Records already-present, already-synced paths as valid.
    fn register_infos(&self, infos: &[PathInfo]) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction().map_err(db_err)?;
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO ValidPaths (path, hash, registrationTime, deriver, narSize, ca) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db_err)?;
            for i in infos {
                ins.execute(params![
                    self.print(&i.path),
                    i.nar_hash.to_string_as(ox_store::HashFormat::Base16, true),
                    i.registration_time,
                    i.deriver.as_ref().map(|d| self.print(d)),
                    i.nar_size as i64,
                    i.ca,
                ])
                .map_err(db_err)?;
            }
            let mut id_of = tx
                .prepare_cached("SELECT id FROM ValidPaths WHERE path = ?1")
                .map_err(db_err)?;
            let mut ins_ref = tx
                .prepare_cached("INSERT OR IGNORE INTO Refs (referrer, reference) VALUES (?1, ?2)")
                .map_err(db_err)?;
            for i in infos {
                let me: i64 = id_of
                    .query_row(params![self.print(&i.path)], |r| r.get(0))
                    .map_err(db_err)?;
                for r in &i.references {
                    let rid: Option<i64> = id_of
                        .query_row(params![self.print(r)], |r| r.get(0))
                        .optional()
                        .map_err(db_err)?;
                    let Some(rid) = rid else {
                        return Err(StoreError::MissingReference {
                            path: self.print(&i.path),
                            reference: self.print(r),
                        });
                    };
                    ins_ref.execute(params![me, rid]).map_err(db_err)?;
                }
            }
        }
        tx.commit().map_err(db_err)
    }

    /// Adds a file or directory tree by content (recursive sha256, like
    /// `nix-store --add`), returning its store path.
    pub fn add_path(&self, src: &Path, name: Option<&str>) -> Result<StorePath> {
        let name = match name {
            Some(n) => n.to_string(),
            None => ox_store::source::default_name(src)
                .map_err(|e| StoreError::Config(e.to_string()))?
                .to_string(),
        };
        self.add_source(src, &name, FileIngestionMethod::Recursive, &|_| false, None)
    }

    /// Copies `src` into the store content-addressed by `method` (sha256),
    /// leaving out what `exclude` names (and everything below it). With
    /// `expected`, the copy must hash to that path: this is how evaluated
    /// `"${./x}"` paths are realised, so a file that changed since
    /// evaluation is an error rather than a wrong path.
    pub fn add_source(
        &self,
        src: &Path,
        name: &str,
        method: FileIngestionMethod,
        exclude: &dyn Fn(&Path) -> bool,
        expected: Option<&StorePath>,
    ) -> Result<StorePath> {
        if let Some(e) = expected {
            if self.is_valid(e)? {
                return Ok(e.clone());
            }
        }
        let scratch = self.scratch_dir("add")?;
        let tmp = scratch.join("x");
        let r = (|| {
            fsutil::copy_tree_filtered(src, &tmp, exclude)
                .map_err(io_err(format!("copying {}", src.display())))?;
            let got =
                ox_store::source_path(&self.dir, &tmp, name, method, HashAlgo::Sha256, |_, _| true)
                    .map_err(|e| StoreError::Nar(format!("{}: {e}", src.display())))?;
            if let Some(e) = expected {
                if got.path != *e {
                    return Err(StoreError::HashMismatch {
                        path: self.print(e),
                        got: self.print(&got.path),
                    });
                }
            }
            let _lock = self.lock_path(&got.path)?;
            if self.is_valid(&got.path)? {
                return Ok(got.path);
            }
            let ca = format!(
                "fixed:{}{}",
                method.prefix(),
                got.content_hash
                    .to_string_as(ox_store::HashFormat::Base32, true)
            );
            self.register(vec![PendingPath {
                tmp: tmp.clone(),
                path: got.path.clone(),
                references: BTreeSet::new(),
                deriver: None,
                ca: Some(ca),
            }])?;
            Ok(got.path)
        })();
        let _ = fsutil::remove_tree(&scratch);
        r
    }

    /// Adds a tree that `write` creates (at the path it is given) as a
    /// content-addressed `source` path (recursive sha256) with
    /// `references`, which must be valid (a self reference is not
    /// supported). With `expected`, the result must be that path. This is
    /// how generated trees (a host's toplevel) enter the store.
    pub fn add_tree(
        &self,
        name: &str,
        references: &BTreeSet<StorePath>,
        expected: Option<&StorePath>,
        write: &dyn Fn(&Path) -> io::Result<()>,
    ) -> Result<StorePath> {
        if let Some(e) = expected {
            if self.is_valid(e)? {
                return Ok(e.clone());
            }
        }
        let scratch = self.scratch_dir("tree")?;
        let tmp = scratch.join("x");
        let r = (|| {
            write(&tmp).map_err(io_err(format!("writing the tree of '{name}'")))?;
            let nar = ox_store::nar_hash(&tmp, HashAlgo::Sha256)
                .map_err(|e| StoreError::Nar(format!("{name}: {e}")))?;
            let path = self
                .dir
                .make_fixed_output_path(
                    FileIngestionMethod::Recursive,
                    &nar.hash,
                    name,
                    references,
                    false,
                )
                .map_err(|e| StoreError::Config(format!("'{name}': {e}")))?;
            if let Some(e) = expected {
                if path != *e {
                    return Err(StoreError::HashMismatch {
                        path: self.print(e),
                        got: self.print(&path),
                    });
                }
            }
            let _lock = self.lock_path(&path)?;
            if self.is_valid(&path)? {
                return Ok(path);
            }
            let ca = format!(
                "fixed:r:{}",
                nar.hash.to_string_as(ox_store::HashFormat::Base32, true)
            );
            self.register_known(
                vec![PendingPath {
                    tmp: tmp.clone(),
                    path: path.clone(),
                    references: references.clone(),
                    deriver: None,
                    ca: Some(ca),
                }],
                vec![Some(nar)],
                false,
            )?;
            Ok(path)
        })();
        let _ = fsutil::remove_tree(&scratch);
        r
    }

    /// Adds a text file with references (`builtins.toFile`, `.drv` files).
    pub fn add_text(
        &self,
        name: &str,
        contents: &[u8],
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath> {
        let p = self
            .dir
            .text_path_for(name, contents, references)
            .map_err(|e| StoreError::Config(format!("text '{name}': {e}")))?;
        self.add_texts(&[(p.clone(), contents.to_vec(), references.clone())])?;
        Ok(p)
    }

    /// Adds many text files at once (one fsync of the filesystem and one
    /// transaction for all of them): `(expected path, contents, refs)`.
    /// Each path is checked against its contents and references.
    pub fn add_texts(&self, items: &[(StorePath, Vec<u8>, BTreeSet<StorePath>)]) -> Result<()> {
        let mut todo = Vec::new();
        for (p, c, r) in items {
            let want = self
                .dir
                .text_path_for(p.name(), c, r)
                .map_err(|e| StoreError::Config(format!("text '{}': {e}", p.name())))?;
            if want != *p {
                return Err(StoreError::HashMismatch {
                    path: self.print(p),
                    got: self.print(&want),
                });
            }
            if !self.is_valid(p)? {
                todo.push((p, c, r));
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        // Another process may be adding the same texts: serialise the
        // rename-and-register step and skip what became valid meanwhile.
        let _lock = self.global_lock("texts")?;
        let mut still = Vec::new();
        for t in todo {
            if !self.is_valid(t.0)? {
                still.push(t);
            }
        }
        let todo = still;
        if todo.is_empty() {
            return Ok(());
        }
        let scratch = self.scratch_dir("text")?;
        let r = (|| {
            let mut infos = Vec::new();
            for (p, c, refs) in &todo {
                let tmp = scratch.join(p.base_name());
                fs::write(&tmp, c).map_err(io_err(format!("writing {}", tmp.display())))?;
                fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o444))
                    .map_err(io_err(format!("chmod {}", tmp.display())))?;
                fsutil::set_mtime_one(&tmp).map_err(io_err(format!("utime {}", tmp.display())))?;
                let nar = ox_store::nar::nar_of_bytes(c, false);
                infos.push(PathInfo {
                    path: (*p).clone(),
                    nar_hash: Hash::digest(HashAlgo::Sha256, &nar),
                    nar_size: nar.len() as u64,
                    references: (*refs).clone(),
                    deriver: None,
                    registration_time: now(),
                    ca: Some(format!(
                        "text:{}",
                        Hash::digest(HashAlgo::Sha256, c)
                            .to_string_as(ox_store::HashFormat::Base32, true)
                    )),
                });
            }
            // One syncfs instead of an fsync per file: these batches are
            // the thousands of .drv files of a host.
            sync_fs(&scratch).map_err(io_err("syncing the store filesystem"))?;
            for (p, _, _) in &todo {
                let dst = self.real_path(p);
                if fs::symlink_metadata(&dst).is_ok() {
                    fsutil::remove_tree(&dst)
                        .map_err(io_err(format!("removing {}", dst.display())))?;
                }
                fs::rename(scratch.join(p.base_name()), &dst)
                    .map_err(io_err(format!("moving into {}", dst.display())))?;
            }
            fsutil::sync_dir(&self.real).map_err(io_err("syncing the store directory"))?;
            // Register in reference order, so references are valid first.
            self.register_infos(&topo_sort(infos))
        })();
        let _ = fsutil::remove_tree(&scratch);
        r
    }

    /// Registers the closure's NAR hash as computed now; used by verify.
    pub fn recompute_nar(&self, p: &StorePath) -> Result<ox_store::NarInfo> {
        ox_store::nar_hash(&self.real_path(p), HashAlgo::Sha256)
            .map_err(|e| StoreError::Nar(format!("{}: {e}", self.print(p))))
    }

    /// Scans a finished tree for references among `candidates`.
    pub fn scan_references(
        &self,
        tmp: &Path,
        candidates: &[StorePath],
    ) -> Result<BTreeSet<StorePath>> {
        refs::scan_path(tmp, candidates)
            .map(|(_, _, r)| r)
            .map_err(|e| StoreError::Nar(format!("{}: {e}", tmp.display())))
    }

    // -----------------------------------------------------------------
    // Roots

    /// Registers `link` (a symlink outside the store, e.g. `./result`) as
    /// an indirect root: what it points to is kept alive as long as the
    /// link exists and still points there.
    pub fn add_indirect_root(&self, link: &Path, target: &StorePath) -> Result<()> {
        let link = absolute(link);
        self.db()
            .execute(
                "INSERT OR REPLACE INTO Roots (link, target, kind) VALUES (?1, ?2, 'indirect')",
                params![link.to_string_lossy(), self.print(target)],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Creates (or replaces) the symlink `link` → `target` and registers
    /// it as an indirect root.
    pub fn make_result_link(&self, link: &Path, target: &StorePath) -> Result<()> {
        let tmp = link.with_file_name(format!(
            ".{}.tmp-{}",
            link.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(self.print(target), &tmp)
            .map_err(io_err(format!("creating {}", tmp.display())))?;
        fs::rename(&tmp, link).map_err(io_err(format!("creating {}", link.display())))?;
        self.add_indirect_root(link, target)
    }

    /// A named direct root (`<state>/gcroots/<name>`).
    pub fn add_root(&self, name: &str, target: &StorePath) -> Result<()> {
        if name.is_empty() || name.contains('/') {
            return Err(StoreError::Config(format!(
                "root name '{name}' must be a plain file name"
            )));
        }
        let link = self.config.state_dir.join("gcroots").join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(self.print(target), &link)
            .map_err(io_err(format!("creating {}", link.display())))?;
        Ok(())
    }

    pub fn remove_root(&self, name_or_link: &str) -> Result<bool> {
        let direct = self.config.state_dir.join("gcroots").join(name_or_link);
        let mut removed = false;
        if !name_or_link.contains('/') && fs::symlink_metadata(&direct).is_ok() {
            fs::remove_file(&direct).map_err(io_err(format!("removing {}", direct.display())))?;
            removed = true;
        }
        let link = absolute(Path::new(name_or_link));
        let n = self
            .db()
            .execute(
                "DELETE FROM Roots WHERE link = ?1",
                params![link.to_string_lossy()],
            )
            .map_err(db_err)?;
        Ok(removed || n > 0)
    }

    /// Every root: (where it comes from, the store path it keeps alive).
    /// Indirect roots whose link is gone or now points elsewhere are
    /// dropped from the database here.
    pub fn roots(&self) -> Result<BTreeMap<String, StorePath>> {
        let mut out = BTreeMap::new();
        let indirect: Vec<(String, String)> = {
            let db = self.db();
            let mut stmt = db
                .prepare("SELECT link, target FROM Roots WHERE kind = 'indirect'")
                .map_err(db_err)?;
            let v = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_err)?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(db_err)?;
            v
        };
        for (link, target) in indirect {
            let now = fs::read_link(&link)
                .ok()
                .map(|t| t.to_string_lossy().into_owned());
            match now.as_deref().and_then(|t| self.parse(t).ok()) {
                Some(p) => {
                    out.insert(link, p);
                }
                None => {
                    let _ = target;
                    self.db()
                        .execute("DELETE FROM Roots WHERE link = ?1", params![link])
                        .map_err(db_err)?;
                }
            }
        }
        for sub in ["gcroots", "profiles"] {
            let d = self.config.state_dir.join(sub);
            self.scan_root_dir(&d, &mut out, 0);
        }
        // What activation has made live on this machine: `ox test` of a
        // toplevel outside the profile is only referenced from these, and
        // deleting it would pull the running /etc out from under the host.
        for link in ACTIVE_SYSTEM_LINKS {
            let p = reroot(&self.config.root, Path::new(link));
            if let Some(sp) = self.link_into_store(&p) {
                out.insert(p.to_string_lossy().into_owned(), sp);
            }
        }
        Ok(out)
    }

    /// The store path a symlink leads to, also through chains like
    /// `system -> system-3-link -> /ox/store/…`, or into a path below a
    /// store path (`/etc/ox-static -> /ox/store/…-ox-system-h/etc`).
    fn link_into_store(&self, link: &Path) -> Option<StorePath> {
        let mut cur = link.to_path_buf();
        for _ in 0..16 {
            let t = fs::read_link(&cur).ok()?;
            let t = if t.is_absolute() {
                t
            } else {
                cur.parent().unwrap_or(Path::new("/")).join(t)
            };
            if let Ok(sp) = self.parse(&t.to_string_lossy()) {
                return Some(sp);
            }
            cur = t;
        }
        None
    }

    /// Symlinks under `dir` (recursively) that lead into the store, also
    /// through chains like `system -> system-3-link -> /ox/store/…`.
    fn scan_root_dir(&self, dir: &Path, out: &mut BTreeMap<String, StorePath>, depth: usize) {
        if depth > 16 {
            return;
        }
        let Ok(rd) = fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(md) = fs::symlink_metadata(&p) else {
                continue;
            };
            if md.file_type().is_symlink() {
                if let Some(sp) = self.link_into_store(&p) {
                    out.insert(p.to_string_lossy().into_owned(), sp);
                }
            } else if md.is_dir() {
                self.scan_root_dir(&p, out, depth + 1);
            }
        }
    }

    // -----------------------------------------------------------------
    // Garbage collection and verification

    /// Deletes every valid path no root reaches (and left-over scratch
    /// directories of killed builds). With `dry_run` only reports.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport> {
        let lp = self.config.state_dir.join("gc.lock");
        let _lock = FileLock::acquire(&lp, true, false)
            .map_err(io_err(format!("locking {}", lp.display())))?
            .ok_or(StoreError::Busy)?;
        let roots = self.roots()?;
        let root_paths: Vec<StorePath> = roots
            .values()
            .filter(|p| self.is_valid(p).unwrap_or(false))
            .cloned()
            .collect();
        let live = self.closure(&root_paths)?;
        let all = self.all_valid()?;
        let dead: Vec<StorePath> = all.into_iter().filter(|p| !live.contains(p)).collect();
        let mut report = GcReport {
            roots: roots.len(),
            live: live.len(),
            ..Default::default()
        };
        if dry_run {
            report.deleted = dead.iter().map(|p| self.print(p)).collect();
            return Ok(report);
        }
        // Delete referrers before their references (the database refuses
        // to drop a path something valid still refers to).
        let ordered = {
            let infos: Vec<PathInfo> = dead
                .iter()
                .filter_map(|p| self.path_info(p).ok().flatten())
                .collect();
            let mut v = topo_sort(infos);
            v.reverse();
            v
        };
        for info in ordered {
            let real = self.real_path(&info.path);
            report.freed += fsutil::tree_size(&real);
            {
                let mut db = self.db();
                let tx = db.transaction().map_err(db_err)?;
                tx.execute(
                    "DELETE FROM Refs WHERE referrer = (SELECT id FROM ValidPaths WHERE path = ?1)",
                    params![self.print(&info.path)],
                )
                .map_err(db_err)?;
                tx.execute(
                    "DELETE FROM ValidPaths WHERE path = ?1",
                    params![self.print(&info.path)],
                )
                .map_err(db_err)?;
                tx.commit().map_err(db_err)?;
            }
            // Invalidate first, then delete: a crash in between leaves an
            // invalid directory, never a valid path with missing files.
            fsutil::remove_tree(&real).map_err(io_err(format!("deleting {}", real.display())))?;
            if info.path.is_derivation() {
                let _ = fs::remove_file(self.log_path(&info.path));
            }
            report.deleted.push(self.print(&info.path));
        }
        // Scratch directories of killed builds go; entries that are not
        // registered are only reported: they may be the rest of an
        // interrupted registration (replaced when that path is added
        // again) or written by a tool that does not register its paths,
        // and a generation may point at them.
        if let Ok(rd) = fs::read_dir(&self.real) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".ox-tmp-") {
                    let _ = fsutil::remove_tree(&e.path());
                } else if let Ok(sp) = StorePath::from_base_name(&name) {
                    if !self.is_valid(&sp)? {
                        report.unregistered.push(self.print(&sp));
                    }
                }
            }
        }
        report.unregistered.sort();
        Ok(report)
    }

    /// Deletes store entries that are not registered (the rest of an
    /// interrupted registration, or written by a tool that does not
    /// register), except those a root points at. Returns them.
    pub fn delete_unregistered(&self, dry_run: bool) -> Result<Vec<String>> {
        let lp = self.config.state_dir.join("gc.lock");
        let _lock = FileLock::acquire(&lp, true, false)
            .map_err(io_err(format!("locking {}", lp.display())))?
            .ok_or(StoreError::Busy)?;
        let rooted: BTreeSet<StorePath> = self.roots()?.into_values().collect();
        let mut out = Vec::new();
        for e in fs::read_dir(&self.real)
            .map_err(io_err(format!("reading {}", self.real.display())))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(sp) = StorePath::from_base_name(&name) else {
                continue;
            };
            if self.is_valid(&sp)? || rooted.contains(&sp) {
                continue;
            }
            if !dry_run {
                fsutil::remove_tree(&e.path())
                    .map_err(io_err(format!("deleting {}", e.path().display())))?;
            }
            out.push(self.print(&sp));
        }
        out.sort();
        Ok(out)
    }

    /// Re-hashes every valid path; returns those whose contents no longer
    /// match the recorded NAR hash (or are missing).
    pub fn verify(&self) -> Result<Vec<Corruption>> {
        let mut bad = Vec::new();
        for p in self.all_valid()? {
            let info = self
                .path_info(&p)?
                .ok_or_else(|| StoreError::NotValid(self.print(&p)))?;
            if fs::symlink_metadata(self.real_path(&p)).is_err() {
                bad.push(Corruption {
                    path: self.print(&p),
                    problem: "missing from the store directory".into(),
                });
                continue;
            }
            match self.recompute_nar(&p) {
                Ok(n) if n.hash == info.nar_hash => {}
                Ok(n) => bad.push(Corruption {
                    path: self.print(&p),
                    problem: format!(
                        "NAR hash is {} but {} was registered",
                        n.hash.to_sri(),
                        info.nar_hash.to_sri()
                    ),
                }),
                Err(e) => bad.push(Corruption {
                    path: self.print(&p),
                    problem: e.to_string(),
                }),
            }
        }
        Ok(bad)
    }

    /// Path of the build log of a derivation.
    pub fn log_path(&self, drv: &StorePath) -> PathBuf {
        self.config
            .state_dir
            .join("log")
            .join(format!("{}.log", drv.base_name()))
    }
}

#[derive(Debug, Default)]
pub struct GcReport {
    pub roots: usize,
    pub live: usize,
    pub deleted: Vec<String>,
    pub freed: u64,
    /// Store entries that are not registered (left alone).
    pub unregistered: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub path: String,
    pub problem: String,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(p)
    }
}

fn sync_fs(p: &Path) -> io::Result<()> {
    let f = fs::File::open(p)?;
    // SAFETY: syncfs on a descriptor we own.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Orders infos so that every path comes after the paths it references
/// (among the given ones).
fn topo_sort(infos: Vec<PathInfo>) -> Vec<PathInfo> {
    let mut by_path: BTreeMap<StorePath, PathInfo> =
        infos.into_iter().map(|i| (i.path.clone(), i)).collect();
    let keys: Vec<StorePath> = by_path.keys().cloned().collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    fn visit(
        p: &StorePath,
        by_path: &mut BTreeMap<StorePath, PathInfo>,
        done: &mut BTreeSet<StorePath>,
        out: &mut Vec<PathInfo>,
    ) {
        if !done.insert(p.clone()) {
            return;
        }
        let Some(info) = by_path.get(p) else {
            return;
        };
        let refs: Vec<StorePath> = info.references.iter().cloned().collect();
        for r in refs {
            if r != *p {
                visit(&r, by_path, done, out);
            }
        }
        if let Some(i) = by_path.remove(p) {
            out.push(i);
        }
    }
    for k in keys {
        visit(&k, &mut by_path, &mut done, &mut out);
    }
    out
}
