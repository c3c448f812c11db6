//! Fleet deploy over SSH: given a built toplevel and where its host is,
//! make the host run it, with a rollback the host does by itself when
//! the deployer cannot log in again afterwards.
//!
//! Owns: the SSH transport (OpenSSH client with a per-host master
//! connection, [`ssh`]), the copy protocol (which closure paths the
//! remote lacks, a NAR stream into the remote store, checked before
//! registration: [`archive`], [`nar`]), the remote job and its rollback
//! state machine ([`remote`]) and the per-host deploy sequence
//! ([`deploy`]). docs/deploy.md describes the protocol.
//!
//! Must not know about: Nix evaluation, modules or how a toplevel is
//! built (the caller hands in a store path and a [`ssh::Target`]), or
//! how activation works inside (the remote runs `ox activate`).

pub mod archive;
pub mod deploy;
pub mod nar;
pub mod remote;
pub mod ssh;

pub use deploy::{deploy_host, Action, Gate, HostReport, NoGate, Options, Phase, Status};
pub use ssh::{Elevate, ElevateTool, Password, Target};

/// What can go wrong in a deploy. Messages name the host and what was
/// expected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    HostKey(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Auth(String),
    /// The login works but the user cannot become root (sudo/doas/run0).
    #[error("{0}")]
    Elevation(String),
    #[error("{0}")]
    Transport(String),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("integrity: {0}")]
    Integrity(String),
    #[error("{0}")]
    Local(String),
    #[error("store: {0}")]
    Store(#[from] ox_localstore::StoreError),
}
