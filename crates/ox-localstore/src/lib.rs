//! ox's on-disk store.
//!
//! This crate owns everything that touches the store directory and its
//! state: the SQLite database of valid paths (NAR hash, size, references,
//! deriver) and roots ([`store`]), adding content-addressed paths and
//! texts, the rule that a path becomes valid only once its contents are
//! complete, normalised and fsynced ([`Store::register`]), garbage
//! collection and verification, and realising derivations ([`build`]):
//! in-process `builtin:ox-*` builders and sandboxed process builders,
//! scheduled in parallel, with reference scanning ([`refs`]) and logs.
//!
//! It uses `ox-store` for the pure algorithms (hashes, NAR, store path
//! arithmetic, `.drv` parsing). It must not know about the evaluator,
//! Nix values, modules or hosts: it is handed `.drv` store paths and
//! plain files. Writing an evaluation's results into the store is
//! `ox-build`'s job.

pub mod build;
pub mod fsutil;
pub mod refs;
pub mod store;

pub use build::{BuildEvent, BuildOptions, BuildOutcome, NonReproducible};
pub use store::{
    Corruption, FileLock, GcReport, PathInfo, PendingPath, Store, StoreConfig, DEFAULT_STATE_DIR,
    DEFAULT_STORE_DIR,
};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("store database: {0}")]
    Db(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Nar(String),
    #[error("{0}")]
    NotInStore(String),
    #[error("path '{0}' is not valid in the store")]
    NotValid(String),
    #[error("cannot register '{path}': its reference '{reference}' is not valid")]
    MissingReference { path: String, reference: String },
    #[error("content of '{path}' hashes to '{got}' instead")]
    HashMismatch { path: String, got: String },
    #[error(
        "another ox process is using the store (building); try the garbage collection again later"
    )]
    Busy,
    #[error("derivation '{drv}': {msg}")]
    Drv { drv: String, msg: String },
    #[error("builder for '{drv}' failed: {msg}\n(log: {log})")]
    BuildFailed {
        drv: String,
        msg: String,
        log: String,
    },
}
