//! `activation.json` and `ox-system.json`, as docs/toplevel.md defines
//! them. Field order here is the order in the file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format_version: u32,
    pub ox_version: String,
    pub host_name: String,
    pub system: String,
    pub state_version: Option<String>,
    /// Other store paths the toplevel refers to (unit scripts, trigger
    /// files), sorted; they must be present wherever the toplevel is.
    #[serde(default)]
    pub references: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActivationPlan {
    pub format_version: u32,
    pub host_name: String,
    pub etc: Vec<EtcPlan>,
    pub users: Vec<UserPlan>,
    pub groups: Vec<GroupPlan>,
    pub mutable_users: bool,
    pub packages: Vec<PackagePlan>,
    pub tmpfiles: Vec<String>,
    pub home: Vec<HomePlan>,
    pub secrets: crate::secrets::Secrets,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EtcPlan {
    pub target: String,
    pub source: String,
    pub mode: String,
    pub user: String,
    pub group: String,
    pub on_conflict: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserPlan {
    pub name: String,
    pub uid: Option<i64>,
    pub is_system_user: bool,
    pub is_normal_user: bool,
    pub group: String,
    pub extra_groups: Vec<String>,
    pub description: String,
    pub home: String,
    pub create_home: bool,
    pub shell: String,
    pub hashed_password: Option<String>,
    pub hashed_password_file: Option<String>,
    pub authorized_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupPlan {
    pub name: String,
    pub gid: Option<i64>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct PackagePlan {
    pub name: String,
    pub version: String,
    /// The `.deb`'s sha256 for packages pinned in ox.lock (none for the
    /// pin table's), so activation can tell a rebuilt .deb of the same
    /// version apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HomePlan {
    pub user: String,
    pub files: Vec<HomeFilePlan>,
    pub activation: Vec<HomeActivationPlan>,
    pub session_variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HomeFilePlan {
    pub target: String,
    pub source: String,
    pub executable: bool,
    pub on_conflict: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HomeActivationPlan {
    pub name: String,
    pub script: String,
    /// home-manager's own steps (`writeBoundary`, `linkGeneration`, …):
    /// no script; they mark where activation does that step itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub builtin: bool,
}
