//! `/ox/var/activate/state.json` (what ox owns, remembered allocations)
//! and `journal.json` (the switch in progress).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{io_err, write_atomic, Error, Paths};

/// What ox put at a path, so it can tell later whether someone changed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Owned {
    /// A symlink with this target.
    Symlink { dest: String },
    /// A copied file with this content hash (sha256 hex).
    Copy { sha256: String },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    pub format_version: u32,
    /// The toplevel the live /etc and units belong to.
    pub toplevel: Option<PathBuf>,
    /// /etc target (relative) → what ox wrote there.
    pub etc: BTreeMap<String, Owned>,
    /// user → (path relative to $HOME → what ox wrote).
    pub home: BTreeMap<String, BTreeMap<String, Owned>>,
    /// Users and groups ox created or manages.
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    /// Users ox locked because they are no longer declared.
    pub locked_users: BTreeSet<String>,
    /// Allocations, kept forever so a re-added user gets its uid back.
    pub uids: BTreeMap<String, u32>,
    pub gids: BTreeMap<String, u32>,
    /// Packages ox installed (were not installed before) → version.
    pub packages: BTreeMap<String, String>,
}

impl State {
    pub fn load(p: &Paths) -> Result<State, Error> {
        let f = p.state_file();
        match std::fs::read_to_string(&f) {
            Ok(s) => serde_json::from_str(&s).map_err(|e| Error::Plan {
                path: f,
                msg: format!("corrupt activation state: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                format_version: 1,
                ..State::default()
            }),
            Err(e) => Err(io_err(&f)(e)),
        }
    }
    pub fn save(&self, p: &Paths) -> Result<(), Error> {
        let s = serde_json::to_string_pretty(self).expect("state serializes");
        write_atomic(&p.state_file(), s.as_bytes())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Planned; users may exist, units may be stopped, /etc untouched.
    /// Recovery rolls back to `old`.
    Prepared,
    /// /etc is (being) flipped. Recovery rolls forward to `new`.
    Flipped,
}

/// The switch in progress. Written before the first change, removed
/// after the last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub old: Option<PathBuf>,
    pub new: PathBuf,
    pub action: String,
    pub phase: Phase,
    /// Generation number the profile gets (switch/boot).
    pub generation: Option<u32>,
    /// Generation the profile pointed at before.
    pub old_generation: Option<u32>,
    pub stopped: Vec<String>,
    pub start: Vec<String>,
    pub restart: Vec<String>,
    pub reload: Vec<String>,
}

impl Journal {
    pub fn load(p: &Paths) -> Result<Option<Journal>, Error> {
        let f = p.journal();
        match std::fs::read_to_string(&f) {
            Ok(s) => serde_json::from_str(&s).map(Some).map_err(|e| Error::Plan {
                path: f,
                msg: format!("corrupt activation journal: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&f)(e)),
        }
    }
    pub fn save(&self, p: &Paths) -> Result<(), Error> {
        let s = serde_json::to_string_pretty(self).expect("journal serializes");
        write_atomic(&p.journal(), s.as_bytes())
    }
    pub fn remove(p: &Paths) -> Result<(), Error> {
        match std::fs::remove_file(p.journal()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p.journal())(e)),
        }
    }
}
