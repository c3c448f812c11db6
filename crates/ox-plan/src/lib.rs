//! The toplevel's contract files, `activation.json` and `ox-system.json`,
//! as docs/toplevel.md defines them: one set of serde types that the
//! builder (`ox-system`) writes and activation (`ox-activate`, `ox-sops`)
//! reads.
//!
//! Writing is strict by construction: every field is serialized, in the
//! order of the file (field order here is the order in the JSON, so the
//! output is byte-stable). Reading is lenient through serde defaults, so
//! toplevels written by older builders (or hand-written fixtures) still
//! activate: a missing field takes the value docs/toplevel.md gives it.
//!
//! This crate owns only the data shape. It must not know about
//! evaluation (how a config becomes these values, or which values are
//! valid for an option: the builder checks that) nor about activation
//! (what a field does to a host).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod secrets;

pub use secrets::Secrets;

/// The `formatVersion` of both files.
pub const FORMAT_VERSION: u32 = 1;

fn default_symlink() -> String {
    "symlink".into()
}
fn default_root() -> String {
    "root".into()
}

/// `onConflict`: what activation does with an unmanaged file already at
/// an entry's target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// The switch stops before changing anything.
    #[default]
    Error,
    /// Move it to `<target>.ox-backup`.
    Backup,
    Replace,
}

impl OnConflict {
    /// `"error"`, `"backup"` or `"replace"`; `None` for anything else.
    pub fn from_name(s: &str) -> Option<OnConflict> {
        match s {
            "error" => Some(OnConflict::Error),
            "backup" => Some(OnConflict::Backup),
            "replace" => Some(OnConflict::Replace),
            _ => None,
        }
    }
}

/// `ox-system.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Manifest {
    pub format_version: u32,
    pub ox_version: String,
    pub host_name: String,
    pub system: String,
    pub state_version: Option<String>,
    /// Other store paths the toplevel refers to (unit scripts, trigger
    /// files), sorted; they must be present wherever the toplevel is.
    pub references: Vec<String>,
}

/// `activation.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Plan {
    pub format_version: u32,
    pub host_name: String,
    pub etc: Vec<EtcEntry>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub mutable_users: bool,
    pub packages: Vec<Package>,
    pub tmpfiles: Vec<String>,
    pub home: Vec<Home>,
    pub secrets: Secrets,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcEntry {
    /// Relative to /etc.
    pub target: String,
    /// Relative to the toplevel.
    pub source: String,
    /// `"symlink"` or an octal mode like `"0400"` (a copy).
    #[serde(default = "default_symlink")]
    pub mode: String,
    #[serde(default = "default_root")]
    pub user: String,
    #[serde(default = "default_root")]
    pub group: String,
    #[serde(default)]
    pub on_conflict: OnConflict,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub name: String,
    /// `None`: allocate (stably across generations).
    pub uid: Option<u32>,
    pub is_system_user: bool,
    pub is_normal_user: bool,
    pub group: String,
    pub extra_groups: Vec<String>,
    pub description: String,
    /// The builder always writes it; `None` (an older plan) lets
    /// activation pick NixOS's default.
    pub home: Option<String>,
    pub create_home: bool,
    /// As `home`.
    pub shell: Option<String>,
    pub hashed_password: Option<String>,
    pub hashed_password_file: Option<String>,
    pub authorized_keys: Vec<String>,
}

impl User {
    /// The home a plan without one means (NixOS's default, which the
    /// builder writes out): `/home/<name>` for normal users, else
    /// `/var/empty`.
    pub fn default_home(name: &str, is_normal_user: bool) -> String {
        if is_normal_user {
            format!("/home/{name}")
        } else {
            "/var/empty".into()
        }
    }

    /// The shell a plan without one means: `/bin/bash` for normal
    /// users, else `/usr/sbin/nologin`.
    pub fn default_shell(is_normal_user: bool) -> String {
        if is_normal_user {
            "/bin/bash".into()
        } else {
            "/usr/sbin/nologin".into()
        }
    }

    /// `home`, or [`User::default_home`].
    pub fn home_or_default(&self) -> String {
        self.home
            .clone()
            .unwrap_or_else(|| User::default_home(&self.name, self.is_normal_user))
    }

    /// `shell`, or [`User::default_shell`].
    pub fn shell_or_default(&self) -> String {
        self.shell
            .clone()
            .unwrap_or_else(|| User::default_shell(self.is_normal_user))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Group {
    pub name: String,
    /// `None`: allocate.
    pub gid: Option<u32>,
    pub members: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    /// Exact Debian version; the builder refuses unpinned packages, so
    /// it always writes one. `None` (a hand-written plan) = any:
    /// installed if missing, never upgraded by ox.
    #[serde(default)]
    pub version: Option<String>,
    /// The `.deb`'s sha256 for packages pinned in ox.lock (none for the
    /// pin table's), so a rebuilt .deb of the same version can be told
    /// apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Home {
    pub user: String,
    pub files: Vec<HomeFile>,
    /// In DAG order.
    pub activation: Vec<HomeActivation>,
    pub session_variables: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HomeFile {
    /// Relative to the user's home.
    pub target: String,
    /// Relative to the toplevel.
    pub source: String,
    #[serde(default)]
    pub executable: bool,
    #[serde(default)]
    pub on_conflict: OnConflict,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HomeActivation {
    pub name: String,
    #[serde(default)]
    pub script: String,
    /// home-manager's own steps (`writeBoundary`, `linkGeneration`, …):
    /// no script; they mark where activation does that step itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub builtin: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader's defaults: an old, sparse plan still parses.
    #[test]
    fn sparse_plan_takes_the_documented_defaults() {
        let p: Plan = serde_json::from_str(
            r#"{"formatVersion": 1, "etc": [{"target": "motd", "source": "etc/motd"}],
                "users": [{"name": "alice"}], "packages": [{"name": "git"}]}"#,
        )
        .unwrap();
        let e = &p.etc[0];
        assert_eq!(
            (e.mode.as_str(), e.user.as_str(), e.on_conflict),
            ("symlink", "root", OnConflict::Error)
        );
        assert_eq!(p.users[0].home, None);
        assert_eq!(p.packages[0].version, None);
        assert!(p.secrets.is_empty());
    }

    /// The writer's output: every field, in the file's order.
    #[test]
    fn written_plan_has_every_field_in_order() {
        let p = Plan {
            format_version: FORMAT_VERSION,
            host_name: "h".into(),
            users: vec![User {
                name: "a".into(),
                home: Some("/home/a".into()),
                shell: Some("/bin/sh".into()),
                ..User::default()
            }],
            packages: vec![Package {
                name: "git".into(),
                version: Some("1".into()),
                sha256: None,
            }],
            ..Plan::default()
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"formatVersion":1,"hostName":"h","etc":[],"users":[{"name":"a","uid":null,"isSystemUser":false,"isNormalUser":false,"group":"","extraGroups":[],"description":"","home":"/home/a","createHome":false,"shell":"/bin/sh","hashedPassword":null,"hashedPasswordFile":null,"authorizedKeys":[]}],"groups":[],"mutableUsers":false,"packages":[{"name":"git","version":"1"}],"tmpfiles":[],"home":[],"secrets":[]}"#
        );
        let back: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}
