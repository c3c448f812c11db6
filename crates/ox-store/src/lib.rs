//! Nix's content-addressing algorithms, as pure library code.
//!
//! This crate owns how ox names things in the store exactly as C++ Nix
//! does: hashes and their encodings ([`hash`]), NAR serialisation
//! ([`nar`]), store path fingerprints and names ([`store_path`]), the
//! store path of a source tree added to the store ([`source`]), and
//! derivations with their ATerm form, `hashDerivationModulo` and the path
//! arithmetic of `derivationStrict` ([`derivation`]).
//!
//! It must not know about the evaluator (values, string contexts, errors
//! with source positions), any database of valid paths, or the CLI:
//! callers hand it plain strings, paths and callbacks, and keep their own
//! maps (e.g. `.drv` path → ATerm). It never writes to a store; the only
//! file system access is reading the paths it is asked to hash.

pub mod derivation;
pub mod hash;
pub mod nar;
pub mod source;
pub mod store_path;

pub use derivation::{
    derivation_strict, hash_derivation_modulo, placeholder, BuiltDerivation, Derivation,
    DerivationError, DerivationOutput, DerivationSpec, DrvHashCache, DrvHashes, FixedOutputSpec,
};
pub use hash::{convert_hash, Hash, HashAlgo, HashError, HashFormat, Hasher};
pub use nar::{dump_path, dump_path_filtered, nar_hash, FileKind, NarError, NarInfo};
pub use source::{source_path, try_source_path, SourceError, SourcePath};
pub use store_path::{check_name, FileIngestionMethod, StoreDir, StorePath, StorePathError};
