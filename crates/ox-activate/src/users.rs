//! Users and groups through shadow-utils (groupadd/useradd/usermod),
//! with uid/gid allocations remembered in the state file so a user
//! that is removed and re-added gets its old id back. Homes are never
//! deleted; users that are no longer declared are locked.

use std::process::Command;

use crate::etc::Ids;
use crate::plan::Plan;
use crate::state::State;
use crate::{run, Error, Paths};

/// One shadow-utils invocation and what it is for.
#[derive(Clone, Debug, PartialEq)]
pub struct UserOp {
    pub what: String,
    pub argv: Vec<String>,
    /// Record in the state: Some(name) = user, group or lock bookkeeping.
    pub kind: OpKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    AddGroup(String),
    AddUser(String),
    ModUser(String),
    Lock(String),
    Unlock(String),
    Members(String),
}

fn root_args(p: &Paths) -> Vec<String> {
    if p.is_live() {
        vec![]
    } else {
        vec!["--root".into(), p.root.to_string_lossy().into_owned()]
    }
}

pub fn plan(p: &Paths, plan: &Plan, state: &State, ids: &Ids) -> Result<Vec<UserOp>, Error> {
    let mut ops = Vec::new();
    let op = |what: String, cmd: &str, args: Vec<String>, kind: OpKind| {
        let mut argv = vec![cmd.to_string()];
        argv.extend(root_args(p));
        argv.extend(args);
        UserOp { what, argv, kind }
    };
    let mut groups_known: std::collections::BTreeSet<String> = ids.groups.keys().cloned().collect();
    for g in &plan.groups {
        if ids.groups.contains_key(&g.name) {
            continue;
        }
        let gid = g.gid.or_else(|| state.gids.get(&g.name).copied());
        let mut a = vec![];
        match gid {
            Some(gid) => a.extend(["-g".to_string(), gid.to_string()]),
            None => a.push("-r".into()),
        }
        a.push(g.name.clone());
        ops.push(op(
            format!("create group {}", g.name),
            "groupadd",
            a,
            OpKind::AddGroup(g.name.clone()),
        ));
        groups_known.insert(g.name.clone());
    }
    for u in &plan.users {
        let group = if u.group.is_empty() {
            if u.is_normal_user {
                "users".to_string()
            } else {
                u.name.clone()
            }
        } else {
            u.group.clone()
        };
        if !groups_known.contains(&group) {
            let mut a = vec![];
            if let Some(gid) = state.gids.get(&group) {
                a.extend(["-g".to_string(), gid.to_string()]);
            } else if u.is_system_user {
                a.push("-r".into());
            }
            a.push(group.clone());
            ops.push(op(
                format!("create group {group}"),
                "groupadd",
                a,
                OpKind::AddGroup(group.clone()),
            ));
            groups_known.insert(group.clone());
        }
        let extra: Vec<&String> = u
            .extra_groups
            .iter()
            .filter(|g| groups_known.contains(*g))
            .collect();
        if let Some(g) = u.extra_groups.iter().find(|g| !groups_known.contains(*g)) {
            return Err(Error::Other(format!(
                "users.users.{}.extraGroups: group `{g}` is neither declared nor present on the host",
                u.name
            )));
        }
        let home = u.home_or_default();
        let shell = u.shell_or_default();
        let password = match (&u.hashed_password, &u.hashed_password_file) {
            (Some(h), _) => Some(h.clone()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(p.at(f))
                    .map_err(|e| {
                        Error::Other(format!(
                            "users.users.{}.hashedPasswordFile {f}: {e}",
                            u.name
                        ))
                    })?
                    .trim()
                    .to_string(),
            ),
            _ => None,
        };
        let mut common = vec![
            "-g".to_string(),
            group.clone(),
            "-d".into(),
            home.clone(),
            "-s".into(),
            shell.clone(),
        ];
        common.extend(["-c".to_string(), u.description.clone()]);
        if !extra.is_empty() {
            common.extend([
                "-G".to_string(),
                extra
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ]);
        }
        // mutableUsers (NixOS): a declared password is only the initial
        // one; `passwd` changes survive later activations
        let exists = ids.users.contains_key(&u.name);
        let password = password.filter(|_| !(plan.mutable_users && exists));
        if let Some(pw) = &password {
            common.extend(["-p".to_string(), pw.clone()]);
        }
        let want_uid = u.uid.or_else(|| state.uids.get(&u.name).copied());
        match ids.users.get(&u.name) {
            None => {
                let mut a = vec![];
                if let Some(uid) = want_uid {
                    a.extend(["-u".to_string(), uid.to_string()]);
                }
                if u.is_system_user {
                    a.push("-r".into());
                }
                a.push(if u.create_home || u.is_normal_user {
                    "-m".into()
                } else {
                    "-M".into()
                });
                a.extend(common);
                a.push(u.name.clone());
                ops.push(op(
                    format!("create user {}", u.name),
                    "useradd",
                    a,
                    OpKind::AddUser(u.name.clone()),
                ));
            }
            Some((uid, gid, cur_home)) => {
                let mut a = vec![];
                let mut changes = vec![];
                if let Some(w) = u.uid.filter(|w| w != uid) {
                    a.extend(["-u".to_string(), w.to_string()]);
                    changes.push(format!("uid {uid}→{w}"));
                }
                if Some(*gid) != ids.groups.get(&group).copied() {
                    changes.push(format!("group {group}"));
                }
                if cur_home != &home {
                    changes.push(format!("home {home}"));
                }
                let pw_line = std::fs::read_to_string(p.at("/etc/passwd")).unwrap_or_default();
                let line = pw_line
                    .lines()
                    .find(|l| l.split(':').next() == Some(&u.name))
                    .unwrap_or("");
                let f: Vec<&str> = line.split(':').collect();
                if f.get(6) != Some(&shell.as_str()) {
                    changes.push(format!("shell {shell}"));
                }
                if f.get(4) != Some(&u.description.as_str()) {
                    changes.push("description".into());
                }
                let cur_groups = member_of(p, &u.name);
                if extra.iter().any(|g| !cur_groups.contains(g)) {
                    changes.push("extra groups".into());
                    // -a: keep memberships others gave the user
                    a.push("-a".into());
                }
                if password.is_some() && shadow_hash(p, &u.name) != password {
                    changes.push("password".into());
                }
                if !changes.is_empty() {
                    a.extend(common);
                    a.push(u.name.clone());
                    ops.push(op(
                        format!("update user {} ({})", u.name, changes.join(", ")),
                        "usermod",
                        a,
                        OpKind::ModUser(u.name.clone()),
                    ));
                }
                if state.locked_users.contains(&u.name) {
                    ops.push(op(
                        format!("unlock user {}", u.name),
                        "usermod",
                        vec!["-U".into(), "-e".into(), "".into(), u.name.clone()],
                        OpKind::Unlock(u.name.clone()),
                    ));
                }
            }
        }
    }
    for g in &plan.groups {
        if g.members.is_empty() {
            continue;
        }
        let cur = group_members(p, &g.name);
        let mut want = g.members.clone();
        want.sort();
        if cur != want {
            let mut argv = vec!["gpasswd".to_string()];
            if !p.is_live() {
                argv.extend(["-R".to_string(), p.root.to_string_lossy().into_owned()]);
            }
            argv.extend(["-M".to_string(), want.join(","), g.name.clone()]);
            ops.push(UserOp {
                what: format!("set members of group {} to {}", g.name, want.join(",")),
                argv,
                kind: OpKind::Members(g.name.clone()),
            });
        }
    }
    let declared: std::collections::BTreeSet<&String> =
        plan.users.iter().map(|u| &u.name).collect();
    for name in &state.users {
        if !declared.contains(name)
            && !state.locked_users.contains(name)
            && ids.users.contains_key(name)
        {
            ops.push(op(
                format!("lock user {name} (no longer declared; home kept)"),
                "usermod",
                vec!["-L".into(), "-e".into(), "1".into(), name.clone()],
                OpKind::Lock(name.clone()),
            ));
        }
    }
    Ok(ops)
}

fn member_of(p: &Paths, user: &str) -> Vec<String> {
    std::fs::read_to_string(p.at("/etc/group"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[3].split(',').any(|m| m == user)).then(|| f[0].to_string())
        })
        .collect()
}

fn group_members(p: &Paths, group: &str) -> Vec<String> {
    let text = std::fs::read_to_string(p.at("/etc/group")).unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .find(|l| l.split(':').next() == Some(group))
        .and_then(|l| l.split(':').nth(3))
        .map(|m| {
            m.split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn shadow_hash(p: &Paths, user: &str) -> Option<String> {
    std::fs::read_to_string(p.at("/etc/shadow"))
        .ok()?
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .and_then(|l| l.split(':').nth(1).map(String::from))
}

/// Run the operations and record what they created in `state`.
pub fn apply(p: &Paths, ops: &[UserOp], state: &mut State) -> Result<(), Error> {
    for o in ops {
        run(Command::new(&o.argv[0]).args(&o.argv[1..]))?;
        match &o.kind {
            OpKind::AddGroup(g) => {
                state.groups.insert(g.clone());
            }
            // only users ox created are ever locked by it
            OpKind::AddUser(u) => {
                state.users.insert(u.clone());
            }
            OpKind::ModUser(_) => {}
            OpKind::Lock(u) => {
                state.locked_users.insert(u.clone());
            }
            OpKind::Unlock(u) => {
                state.locked_users.remove(u);
            }
            OpKind::Members(_) => {}
        }
    }
    // remember every allocation we manage, for good
    let ids = Ids::read(p);
    for u in &state.users {
        if let Some((uid, _, _)) = ids.users.get(u) {
            state.uids.insert(u.clone(), *uid);
        }
    }
    for g in &state.groups {
        if let Some(gid) = ids.groups.get(g) {
            state.gids.insert(g.clone(), *gid);
        }
    }
    Ok(())
}
