//! The system profile, like a Nix profile: `/ox/var/profiles/system-N-link`
//! → toplevel for every generation, and `system` → the default one
//! (what the next boot activates). The generation's date is the link's
//! mtime.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::plan::Manifest;
use crate::{io_err, symlink_atomic, Error, Paths};

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Generation {
    pub number: u32,
    pub toplevel: PathBuf,
    /// Seconds since the epoch.
    pub date: u64,
    pub ox_version: String,
    /// `/run/ox/current-system` is this toplevel.
    pub current: bool,
    /// `/run/ox/booted-system` is this toplevel.
    pub booted: bool,
    /// The profile points here: the next boot uses it.
    pub default: bool,
}

fn link_name(n: u32) -> String {
    format!("system-{n}-link")
}

pub fn link_path(p: &Paths, n: u32) -> PathBuf {
    p.profiles().join(link_name(n))
}

fn read_link(p: &Path) -> Option<PathBuf> {
    std::fs::read_link(p).ok()
}

/// `/run/ox/current-system` or similar, as a toplevel path.
pub fn read_system_link(p: &Path) -> Option<PathBuf> {
    read_link(p)
}

/// Generation numbers, ascending.
pub fn numbers(p: &Paths) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(p.profiles())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix("system-")?
                .strip_suffix("-link")?
                .parse()
                .ok()
        })
        .collect();
    v.sort();
    v
}

/// The generation `system` points at.
pub fn default_number(p: &Paths) -> Option<u32> {
    let l = read_link(&p.profiles().join("system"))?;
    let n = l.file_name()?.to_string_lossy().into_owned();
    n.strip_prefix("system-")?
        .strip_suffix("-link")?
        .parse()
        .ok()
}

pub fn toplevel_of(p: &Paths, n: u32) -> Option<PathBuf> {
    read_link(&link_path(p, n))
}

pub fn list(p: &Paths) -> Vec<Generation> {
    let current = read_link(&p.current_system());
    let booted = read_link(&p.booted_system());
    let default = default_number(p);
    numbers(p)
        .into_iter()
        .filter_map(|n| {
            let link = link_path(p, n);
            let toplevel = read_link(&link)?;
            let date = std::fs::symlink_metadata(&link)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let ox_version = std::fs::read_to_string(toplevel.join("ox-system.json"))
                .ok()
                .and_then(|s| serde_json::from_str::<Manifest>(&s).ok())
                .map(|m| m.ox_version)
                .unwrap_or_default();
            Some(Generation {
                number: n,
                current: current.as_ref() == Some(&toplevel),
                booted: booted.as_ref() == Some(&toplevel),
                default: default == Some(n),
                toplevel,
                date,
                ox_version,
            })
        })
        .collect()
}

/// The number `toplevel` gets in the profile: the default generation's
/// if it is the same toplevel (no new generation for a no-op switch),
/// else the next free one. Does not create anything.
pub fn number_for(p: &Paths, toplevel: &Path) -> u32 {
    if let Some(d) = default_number(p) {
        if toplevel_of(p, d).as_deref() == Some(toplevel) {
            return d;
        }
    }
    numbers(p).last().map(|n| n + 1).unwrap_or(1)
}

/// Create `system-N-link` (if missing) pointing at `toplevel`.
pub fn add(p: &Paths, n: u32, toplevel: &Path) -> Result<(), Error> {
    let link = link_path(p, n);
    if read_link(&link).as_deref() != Some(toplevel) {
        symlink_atomic(toplevel, &link)?;
    }
    Ok(())
}

/// Point `system` at generation `n` (atomic).
pub fn set_default(p: &Paths, n: u32) -> Result<(), Error> {
    symlink_atomic(Path::new(&link_name(n)), &p.profiles().join("system"))
}

pub fn remove(p: &Paths, n: u32) -> Result<(), Error> {
    let l = link_path(p, n);
    std::fs::remove_file(&l).map_err(io_err(&l))
}

/// Which generations `ox gc --keep N --keep-since S` deletes: all but
/// the newest `keep`, those younger than `keep_since_secs`, the
/// current, booted and default ones.
pub fn gc_victims(
    gens: &[Generation],
    keep: usize,
    keep_since_secs: Option<u64>,
    now: u64,
) -> Vec<u32> {
    let newest: Vec<u32> = gens.iter().rev().take(keep).map(|g| g.number).collect();
    gens.iter()
        .filter(|g| {
            !(g.current
                || g.booted
                || g.default
                || newest.contains(&g.number)
                || keep_since_secs.is_some_and(|s| now.saturating_sub(g.date) < s))
        })
        .map(|g| g.number)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(n: u32, date: u64, cur: bool, boot: bool) -> Generation {
        Generation {
            number: n,
            toplevel: PathBuf::from(format!("/ox/store/{n}")),
            date,
            ox_version: String::new(),
            current: cur,
            booted: boot,
            default: cur,
        }
    }

    #[test]
    fn gc_never_takes_current_or_booted() {
        let day = 86400;
        let now = 100 * day;
        let gens = vec![
            g(1, 10 * day, false, true),
            g(2, 20 * day, false, false),
            g(3, 80 * day, false, false),
            g(4, 95 * day, true, false),
            g(5, 99 * day, false, false),
        ];
        assert_eq!(gc_victims(&gens, 1, None, now), vec![2, 3]);
        assert_eq!(gc_victims(&gens, 1, Some(30 * day), now), vec![2]);
        assert_eq!(gc_victims(&gens, 0, None, now), vec![2, 3, 5]);
    }

    #[test]
    fn numbering_reuses_the_default_for_the_same_toplevel() {
        let root = std::env::temp_dir().join(format!("ox-prof-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let p = Paths::new(&root);
        let a = Path::new("/ox/store/aaa-ox-system-x");
        let b = Path::new("/ox/store/bbb-ox-system-x");
        assert_eq!(number_for(&p, a), 1);
        add(&p, 1, a).unwrap();
        set_default(&p, 1).unwrap();
        assert_eq!(number_for(&p, a), 1);
        assert_eq!(number_for(&p, b), 2);
        add(&p, 2, b).unwrap();
        set_default(&p, 2).unwrap();
        assert_eq!(default_number(&p), Some(2));
        let l = list(&p);
        assert_eq!(l.len(), 2);
        assert!(l[1].default && !l[0].default);
        assert_eq!(l[0].toplevel, a);
        let _ = std::fs::remove_dir_all(&root);
    }
}
