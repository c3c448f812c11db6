//! `ox-eval`: ox's lazy evaluator for the Nix language.
//!
//! It owns parsing (through `rnix`), lowering to a scope-resolved IR
//! (`compile`), lazy evaluation with thunks (`eval`), the `builtins`,
//! value printing compatible with `nix-instantiate --eval` (`print`) and
//! error rendering with source locations (`error`).
//!
//! It must not know about modules, hosts, flakes or activation: those are
//! built on top of the values it produces. Store-path arithmetic comes
//! from `ox-store`; this crate never writes to a store itself, it records
//! what it would write (`Eval::store_writes`, `Eval::drvs`) for the
//! builder to realise.

pub mod alloc;
pub mod builtins;
pub mod compile;
pub mod error;
pub mod eval;
pub mod print;
pub mod store;
pub mod value;
pub mod xml;

pub use error::{render, EvalError, Result};
pub use eval::{Eval, Settings};
pub use value::Value;

/// Something the evaluator decided belongs in the store.
#[derive(Clone, Debug)]
pub enum StoreObject {
    /// `builtins.toFile`: a text file with references (store paths).
    Text {
        name: String,
        contents: String,
        refs: std::collections::BTreeSet<String>,
    },
    /// A copied source path (`"${./x}"`, `builtins.path`, `filterSource`):
    /// NAR-serialised (`recursive`) or a flat file, without the entries a
    /// filter rejected (absolute paths below `path`).
    Source {
        name: String,
        path: String,
        recursive: bool,
        excluded: Vec<String>,
    },
}
