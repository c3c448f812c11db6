//! The evaluated host configuration as the renderer reads it: the JSON
//! of `config.system.build.oxPlan` (nix/modules/system/build.nix), whose
//! attribute names are NixOS's option names. Every field has NixOS's
//! default so fixtures and hand-written configs may leave it out.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HostConfig {
    pub networking: Networking,
    pub time: Time,
    pub i18n: I18n,
    pub console: Console,
    pub environment: Environment,
    pub systemd: Systemd,
    pub users: Users,
    pub file_systems: BTreeMap<String, FileSystem>,
    pub swap_devices: Vec<SwapDevice>,
    pub boot: Boot,
    #[serde(rename = "home-manager")]
    pub home_manager: HomeManager,
    pub system: SystemOpts,
    /// `sops.*` as `system.build.oxSecrets` (crate::secrets).
    #[serde(deserialize_with = "crate::secrets::strict")]
    pub secrets: crate::plan::Secrets,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Networking {
    pub host_name: String,
    pub domain: Option<String>,
    pub hosts: BTreeMap<String, Vec<String>>,
    pub extra_hosts: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Time {
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct I18n {
    pub default_locale: String,
    pub extra_locale_settings: BTreeMap<String, String>,
    pub supported_locales: Vec<String>,
}

impl Default for I18n {
    fn default() -> Self {
        I18n {
            default_locale: "en_US.UTF-8".into(),
            extra_locale_settings: BTreeMap::new(),
            supported_locales: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Console {
    pub key_map: Option<String>,
    pub font: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Environment {
    pub etc: BTreeMap<String, EtcEntry>,
    pub system_packages: Vec<Package>,
    /// Packages built into the store (not apt packages): their `bin/`
    /// entries are linked into /etc/ox/sw/bin, which ox.sh puts on PATH.
    pub store_packages: Vec<String>,
    pub variables: BTreeMap<String, EnvValue>,
    pub session_variables: BTreeMap<String, EnvValue>,
    pub shell_aliases: BTreeMap<String, Option<String>>,
}

/// `environment.variables` values: a string or a list joined with `:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    One(Scalar),
    Many(Vec<Scalar>),
}

impl EnvValue {
    pub fn render(&self) -> String {
        match self {
            EnvValue::One(s) => s.to_string(),
            EnvValue::Many(v) => v
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(":"),
        }
    }
}

/// A string, number or boolean as Nix's `toString` renders it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x:.6}"),
            // toString true = "1", toString false = ""
            Scalar::Bool(true) => f.write_str("1"),
            Scalar::Bool(false) => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EtcEntry {
    pub enable: bool,
    pub target: Option<String>,
    pub text: Option<String>,
    pub source: Option<String>,
    pub mode: String,
    pub user: String,
    pub group: String,
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    /// ox extension: what activation does with an unmanaged file at
    /// the target ("error", "backup", "replace").
    pub on_conflict: String,
}

impl Default for EtcEntry {
    fn default() -> Self {
        EtcEntry {
            enable: true,
            target: None,
            text: None,
            source: None,
            mode: "symlink".into(),
            user: "root".into(),
            group: "root".into(),
            uid: None,
            gid: None,
            on_conflict: "error".into(),
        }
    }
}

/// A package in `environment.systemPackages`: a Debian package name,
/// optionally pinned to a version.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Package {
    Name(String),
    Pinned {
        name: String,
        #[serde(default)]
        version: Option<String>,
        /// The .deb's sha256 (packages from ox.lock).
        #[serde(default)]
        sha256: Option<String>,
    },
}

impl Package {
    pub fn name(&self) -> &str {
        match self {
            Package::Name(n) => n,
            Package::Pinned { name, .. } => name,
        }
    }
    pub fn version(&self) -> Option<&str> {
        match self {
            Package::Name(_) => None,
            Package::Pinned { version, .. } => version.as_deref(),
        }
    }
    pub fn sha256(&self) -> Option<&str> {
        match self {
            Package::Name(_) => None,
            Package::Pinned { sha256, .. } => sha256.as_deref(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Systemd {
    pub services: BTreeMap<String, Unit>,
    pub timers: BTreeMap<String, Unit>,
    pub sockets: BTreeMap<String, Unit>,
    pub paths: BTreeMap<String, Unit>,
    pub targets: BTreeMap<String, Unit>,
    pub slices: BTreeMap<String, Unit>,
    pub tmpfiles: Tmpfiles,
    pub user: UserUnits,
    pub global_environment: BTreeMap<String, Option<Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserUnits {
    pub services: BTreeMap<String, Unit>,
    pub timers: BTreeMap<String, Unit>,
    pub sockets: BTreeMap<String, Unit>,
    pub paths: BTreeMap<String, Unit>,
    pub targets: BTreeMap<String, Unit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Tmpfiles {
    pub rules: Vec<String>,
}

/// One NixOS unit (`systemd.services.<name>` and friends); the kind
/// decides which of the section options are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Unit {
    pub enable: bool,
    pub description: String,
    pub documentation: Vec<String>,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub upholds: Vec<String>,
    pub after: Vec<String>,
    pub before: Vec<String>,
    pub binds_to: Vec<String>,
    pub part_of: Vec<String>,
    pub conflicts: Vec<String>,
    pub requisite: Vec<String>,
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    pub upheld_by: Vec<String>,
    pub aliases: Vec<String>,
    pub on_failure: Vec<String>,
    pub on_success: Vec<String>,
    pub start_limit_interval_sec: Option<Scalar>,
    pub start_limit_burst: Option<Scalar>,
    pub restart_triggers: Vec<Value>,
    pub reload_triggers: Vec<Value>,
    pub unit_config: BTreeMap<String, Value>,
    /// "asDropinIfExists" (default) or "asDropin": the latter renders the
    /// unit as `<unit>.d/overrides.conf`, extending a unit a Debian
    /// package ships.
    pub override_strategy: Option<String>,
    // services
    pub service_config: BTreeMap<String, Value>,
    pub environment: BTreeMap<String, Option<Scalar>>,
    pub path: Vec<String>,
    pub script: String,
    pub script_args: String,
    pub pre_start: String,
    pub post_start: String,
    pub reload: String,
    pub pre_stop: String,
    pub post_stop: String,
    #[serde(default = "yes")]
    pub restart_if_changed: bool,
    pub reload_if_changed: bool,
    #[serde(default = "yes")]
    pub stop_if_changed: bool,
    pub not_socket_activated: bool,
    pub start_at: StartAt,
    // timers, sockets, paths, slices
    pub timer_config: BTreeMap<String, Value>,
    pub socket_config: BTreeMap<String, Value>,
    pub listen_streams: Vec<String>,
    pub listen_datagrams: Vec<String>,
    pub path_config: BTreeMap<String, Value>,
    pub slice_config: BTreeMap<String, Value>,
}

impl Default for Unit {
    fn default() -> Self {
        Unit {
            enable: true,
            description: String::new(),
            documentation: vec![],
            requires: vec![],
            wants: vec![],
            upholds: vec![],
            after: vec![],
            before: vec![],
            binds_to: vec![],
            part_of: vec![],
            conflicts: vec![],
            requisite: vec![],
            wanted_by: vec![],
            required_by: vec![],
            upheld_by: vec![],
            aliases: vec![],
            on_failure: vec![],
            on_success: vec![],
            start_limit_interval_sec: None,
            start_limit_burst: None,
            restart_triggers: vec![],
            reload_triggers: vec![],
            unit_config: BTreeMap::new(),
            override_strategy: None,
            service_config: BTreeMap::new(),
            environment: BTreeMap::new(),
            path: vec![],
            script: String::new(),
            script_args: String::new(),
            pre_start: String::new(),
            post_start: String::new(),
            reload: String::new(),
            pre_stop: String::new(),
            post_stop: String::new(),
            restart_if_changed: true,
            reload_if_changed: false,
            stop_if_changed: true,
            not_socket_activated: false,
            start_at: StartAt::default(),
            timer_config: BTreeMap::new(),
            socket_config: BTreeMap::new(),
            listen_streams: vec![],
            listen_datagrams: vec![],
            path_config: BTreeMap::new(),
            slice_config: BTreeMap::new(),
        }
    }
}

/// `startAt`: one calendar expression or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StartAt {
    One(String),
    Many(Vec<String>),
}

impl Default for StartAt {
    fn default() -> Self {
        StartAt::Many(Vec::new())
    }
}

impl StartAt {
    pub fn list(&self) -> Vec<String> {
        match self {
            StartAt::One(s) => vec![s.clone()],
            StartAt::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Users {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub mutable_users: bool,
}

impl Default for Users {
    fn default() -> Self {
        Users {
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            mutable_users: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct User {
    pub name: Option<String>,
    pub uid: Option<i64>,
    pub is_normal_user: bool,
    pub is_system_user: bool,
    pub group: String,
    pub extra_groups: Vec<String>,
    pub description: String,
    pub home: Option<String>,
    pub create_home: Option<bool>,
    pub shell: Option<String>,
    pub hashed_password: Option<String>,
    pub hashed_password_file: Option<String>,
    pub openssh: UserOpenssh,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserOpenssh {
    pub authorized_keys: AuthorizedKeys,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthorizedKeys {
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Group {
    pub name: Option<String>,
    pub gid: Option<i64>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FileSystem {
    pub mount_point: Option<String>,
    pub device: Option<String>,
    pub label: Option<String>,
    pub fs_type: String,
    pub options: Vec<String>,
    pub needed_for_boot: bool,
    pub no_check: bool,
}

impl Default for FileSystem {
    fn default() -> Self {
        FileSystem {
            mount_point: None,
            device: None,
            label: None,
            fs_type: "auto".into(),
            options: vec!["defaults".into()],
            needed_for_boot: false,
            no_check: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SwapDevice {
    pub device: Option<String>,
    pub label: Option<String>,
    pub priority: Option<i64>,
    pub discard_policy: Option<String>,
    pub options: Vec<String>,
}

impl Default for SwapDevice {
    fn default() -> Self {
        SwapDevice {
            device: None,
            label: None,
            priority: None,
            discard_policy: None,
            options: vec!["defaults".into()],
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Boot {
    pub initrd: Initrd,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Initrd {
    pub luks: Luks,
    pub check_journaling_fs: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Luks {
    pub devices: BTreeMap<String, LuksDevice>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LuksDevice {
    pub device: String,
    pub key_file: Option<String>,
    pub allow_discards: bool,
    pub bypass_workqueues: bool,
    pub crypttab_extra_opts: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SystemOpts {
    pub state_version: Option<String>,
    pub system: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HomeManager {
    pub users: BTreeMap<String, HomeConfig>,
}

/// One `home-manager.users.<name>` config, with home-manager's names.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HomeConfig {
    pub home: Home,
    pub xdg: Xdg,
    pub systemd: HomeSystemd,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Home {
    pub username: Option<String>,
    pub home_directory: Option<String>,
    pub file: BTreeMap<String, HomeFile>,
    pub packages: Vec<Package>,
    /// Store-built packages: their `bin/` entries go to ~/.local/bin.
    pub store_packages: Vec<String>,
    pub session_variables: BTreeMap<String, EnvValue>,
    pub activation: BTreeMap<String, DagEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Xdg {
    pub config_file: BTreeMap<String, HomeFile>,
    pub config_home: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HomeFile {
    pub enable: bool,
    pub target: Option<String>,
    pub text: Option<String>,
    pub source: Option<String>,
    pub executable: Option<bool>,
    pub recursive: bool,
    pub force: bool,
    pub on_change: String,
}

impl Default for HomeFile {
    fn default() -> Self {
        HomeFile {
            enable: true,
            target: None,
            text: None,
            source: None,
            executable: None,
            recursive: false,
            force: false,
            on_change: String::new(),
        }
    }
}

/// A `lib.hm.dag` entry: `{ data; before; after; }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DagEntry {
    pub data: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HomeSystemd {
    pub user: HomeSystemdUser,
}

/// home-manager's `systemd.user.<kind>.<name>` = { Unit; Service; Install; … }.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HomeSystemdUser {
    pub services: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    pub timers: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    pub sockets: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    pub paths: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    pub targets: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    pub slices: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
}
