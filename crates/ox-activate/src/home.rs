//! Per-user home files (home-manager style) and `home.activation`
//! scripts. Files are symlinks into the generation, with the same
//! ownership rules as /etc; scripts run as the user, in the order the
//! builder gave (already DAG-sorted), after the files are linked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::etc::{plan_tree, Desired, Ids, TreeChanges};
use crate::plan::{OnConflict, Toplevel};
use crate::state::Owned;
use crate::{run, Error, Paths};

#[derive(Clone, Debug)]
pub struct HomePlan {
    pub user: String,
    pub home: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub changes: TreeChanges,
}

/// Plan every user's home tree, including users that had files before
/// and have none now (their links are removed).
pub fn plan(
    p: &Paths,
    t: &Toplevel,
    owned: &BTreeMap<String, BTreeMap<String, Owned>>,
    ids: &Ids,
) -> Result<Vec<HomePlan>, Error> {
    let mut users: BTreeMap<String, BTreeMap<String, (Desired, OnConflict)>> = BTreeMap::new();
    for h in &t.plan.home {
        let e = users.entry(h.user.clone()).or_default();
        for f in &h.files {
            let dest = t.path.join(&f.source).to_string_lossy().into_owned();
            e.insert(f.target.clone(), (Desired::Symlink { dest }, f.on_conflict));
        }
    }
    for u in owned.keys() {
        users.entry(u.clone()).or_default();
    }
    let empty = BTreeMap::new();
    let mut out = Vec::new();
    for (user, desired) in users {
        let Some((uid, gid, home)) = ids.users.get(&user).cloned() else {
            if desired.is_empty() {
                continue;
            }
            // created by this activation: planned again after users exist
            out.push(HomePlan {
                user: user.clone(),
                home: PathBuf::new(),
                uid: 0,
                gid: 0,
                changes: TreeChanges {
                    ops: desired
                        .iter()
                        .map(|(r, (d, _))| crate::etc::Op::Create(r.clone(), d.clone()))
                        .collect(),
                    ..TreeChanges::default()
                },
            });
            continue;
        };
        let base = p.at(&home);
        let label = format!("~{user}/");
        let changes = plan_tree(
            &base,
            &desired,
            owned.get(&user).unwrap_or(&empty),
            ids,
            None,
            &label,
        );
        out.push(HomePlan {
            user,
            home: PathBuf::from(home),
            uid,
            gid,
            changes,
        });
    }
    Ok(out)
}

/// Run one `home.activation` script as the user, with `$HOME`, the
/// session variables and a `run` function (home-manager's API).
pub fn run_script(
    p: &Paths,
    user: &str,
    home: &str,
    vars: &BTreeMap<String, String>,
    name: &str,
    body: &str,
) -> Result<(), Error> {
    if !p.is_live() {
        return Err(Error::Other(format!(
            "home.activation.{name} of {user} cannot run under --root"
        )));
    }
    let mut script = String::from("set -eu\nrun() { \"$@\"; }\n");
    for (k, v) in vars {
        script.push_str(&format!("export {k}='{}'\n", v.replace('\'', "'\\''")));
    }
    script.push_str(body);
    run(Command::new("runuser")
        .args(["-u", user, "--", "env"])
        .arg(format!("HOME={home}"))
        .arg(format!("USER={user}"))
        .args(["bash", "-c", &script]))
    .map_err(|e| Error::Other(format!("home.activation.{name} for {user}: {e}")))?;
    Ok(())
}

/// Where a toplevel keeps a user's systemd user units.
pub fn user_unit_dir(t: &Toplevel, user: &str) -> PathBuf {
    t.path.join("home").join(user).join(".config/systemd/user")
}
