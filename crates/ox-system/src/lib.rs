//! The host system builder: from a host's evaluated configuration (the
//! JSON of `config.system.build.oxPlan`, NixOS option names) to the
//! *toplevel* tree that docs/toplevel.md defines — the `/etc` tree with
//! systemd units rendered as NixOS renders them, per-user home trees,
//! `activation.json` and the `ox-system.json` manifest — plus the small
//! store paths the units refer to (job scripts, trigger files), and the
//! comparison of two built toplevels (`ox diff`).
//!
//! It owns rendering rules only. It must not know about the evaluator
//! (it reads JSON), how paths get into the store (it computes their
//! content-addressed names with `ox-store`; the CLI registers the trees
//! with `ox-localstore`), or anything about a live host: activation
//! reads what this crate writes and nothing else.

pub mod config;
pub mod dag;
pub mod diff;
pub mod files;
pub mod home;
pub mod nar;
pub mod secrets;
pub mod tree;
pub mod units;

use std::collections::BTreeMap;

use ox_store::{FileIngestionMethod, Hash, HashAlgo, StoreDir};

pub use config::HostConfig;
/// The toplevel's files (docs/toplevel.md); this crate writes them.
pub use ox_plan as plan;
pub use ox_plan::{Manifest, Plan};
pub use tree::{Node, Tree};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("option `{option}`: expected {expected}, but found {found}")]
    Invalid {
        option: String,
        expected: String,
        found: String,
    },
    #[error("`{path}` in the toplevel: {detail}")]
    Conflict { path: String, detail: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("the host configuration is not valid: {0}")]
    Config(String),
    #[error("store path: {0}")]
    Store(String),
}

/// The store directory toplevels are computed for unless told otherwise.
pub const DEFAULT_STORE_DIR: &str = "/ox/store";

/// What the caller decides rather than the config.
#[derive(Debug, Clone)]
pub struct Options {
    pub store_dir: String,
    pub ox_version: String,
    pub system: String,
    /// Store paths the config refers to (built packages, `writeText`
    /// files, …): already in the store, they become references of the
    /// toplevel.
    pub references: std::collections::BTreeSet<String>,
    /// Where the store directory is on disk (`/` normally; a scratch
    /// root in tests), to list the `bin/` of store-built packages.
    pub store_root: std::path::PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            store_dir: DEFAULT_STORE_DIR.into(),
            ox_version: env!("CARGO_PKG_VERSION").into(),
            system: "x86_64-linux".into(),
            references: Default::default(),
            store_root: "/".into(),
        }
    }
}

/// A store path besides the toplevel (job script, trigger file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extra {
    /// The store path is this one file.
    File { data: Vec<u8>, executable: bool },
    /// The store path is a directory.
    Dir(Tree),
}

/// The result of rendering: everything `ox build` puts into the store.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Toplevel store path name: `ox-system-<hostName>`.
    pub name: String,
    pub toplevel: Tree,
    /// Full store path → contents, for every path the toplevel refers to.
    pub extra: BTreeMap<String, Extra>,
    pub plan: Plan,
    pub manifest: Manifest,
}

impl Extra {
    /// Writes the path's contents at `dest` (which must not exist).
    pub fn write_to(&self, dest: &std::path::Path) -> std::io::Result<()> {
        match self {
            Extra::File { data, executable } => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::write(dest, data)?;
                let mode = if *executable { 0o555 } else { 0o444 };
                std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode))
            }
            Extra::Dir(t) => t.write_to(dest),
        }
    }

    /// The sha256 of its NAR.
    pub fn nar_hash(&self) -> Hash {
        let nar = match self {
            Extra::File { data, executable } => ox_store::nar::nar_of_bytes(data, *executable),
            Extra::Dir(t) => nar::tree_nar(t),
        };
        Hash::digest(HashAlgo::Sha256, &nar)
    }
}

impl Rendered {
    /// The content-addressed store path of the toplevel: a `source` path
    /// over its NAR hash with the extra paths as references, so the same
    /// config gives the same path on any machine.
    pub fn toplevel_path(&self, store_dir: &str) -> Result<String, Error> {
        let (p, _) = self.toplevel_path_and_hash(store_dir)?;
        Ok(p)
    }

    /// The toplevel's store path and the sha256 of its NAR (the content
    /// address the store records).
    pub fn toplevel_path_and_hash(&self, store_dir: &str) -> Result<(String, Hash), Error> {
        let sd = StoreDir::new(store_dir).map_err(|e| Error::Store(e.to_string()))?;
        let refs = self
            .manifest
            .references
            .iter()
            .map(|p| sd.parse(p))
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Store(e.to_string()))?;
        let h = Hash::digest(HashAlgo::Sha256, &nar::tree_nar(&self.toplevel));
        let p = sd
            .make_fixed_output_path(FileIngestionMethod::Recursive, &h, &self.name, &refs, false)
            .map_err(|e| Error::Store(e.to_string()))?;
        Ok((sd.print(&p), h))
    }
}

/// Rendering state: the config, the tree being built and the plan's
/// `/etc` entries.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a HostConfig,
    pub store_dir: String,
    pub store_root: std::path::PathBuf,
    pub store: StoreDir,
    pub tree: Tree,
    pub extra: BTreeMap<String, Extra>,
    pub etc: BTreeMap<String, plan::EtcEntry>,
}

/// The /etc files a stock Debian system ships (the modules' own list,
/// `nix/modules/misc/debian-etc.nix`, one quoted path a line).
const DEBIAN_ETC: &str = include_str!("../../../nix/modules/misc/debian-etc.nix");

/// Whether stock Debian ships `/etc/<target>`: a generated entry there
/// (a unit or `.wants` link of the same name, e.g. `ssh.service`) backs
/// the stock one up instead of refusing the first switch.
pub fn debian_ships(target: &str) -> bool {
    DEBIAN_ETC
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix('"'))
        .any(|f| f == target.trim_start_matches('/'))
}

fn default_on_conflict(target: &str) -> plan::OnConflict {
    if debian_ships(target) {
        plan::OnConflict::Backup
    } else {
        plan::OnConflict::Error
    }
}

impl Ctx<'_> {
    /// A regular file at `/etc/<target>`, linked from /etc.
    pub fn etc_file(&mut self, target: &str, data: Vec<u8>, what: &str) -> Result<(), Error> {
        self.etc_entry(
            target,
            Node::File {
                data,
                executable: false,
            },
            what,
            default_on_conflict(target),
        )
    }

    pub fn etc_symlink(&mut self, target: &str, to: &str, what: &str) -> Result<(), Error> {
        self.etc_entry(
            target,
            Node::Symlink(to.to_string()),
            what,
            default_on_conflict(target),
        )
    }

    pub fn etc_entry(
        &mut self,
        target: &str,
        node: Node,
        what: &str,
        on_conflict: plan::OnConflict,
    ) -> Result<(), Error> {
        let t = tree::normalize(target).ok_or_else(|| Error::Invalid {
            option: what.to_string(),
            expected: "a path below /etc without `..`".into(),
            found: format!("{target:?}"),
        })?;
        self.tree.insert(&format!("etc/{t}"), node, what)?;
        self.etc.insert(
            t.clone(),
            plan::EtcEntry {
                target: t.clone(),
                source: format!("etc/{t}"),
                mode: "symlink".into(),
                user: "root".into(),
                group: "root".into(),
                on_conflict,
            },
        );
        Ok(())
    }

    /// The names in `<pkg>/bin` of a store-built package, read from
    /// the store on disk.
    pub fn package_bins(&self, pkg: &str, option: &str) -> Result<Vec<String>, Error> {
        if !pkg.starts_with(&format!("{}/", self.store_dir.trim_end_matches('/'))) {
            return Err(Error::Invalid {
                option: option.to_string(),
                expected: format!("a store path below {}", self.store_dir),
                found: format!("{pkg:?}"),
            });
        }
        let dir = self
            .store_root
            .join(pkg.trim_start_matches('/'))
            .join("bin");
        let mut names = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    names.push(e.file_name().to_string_lossy().into_owned());
                }
            }
            // a package without bin/ (a library, data) links nothing
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && self.store_root.join(pkg.trim_start_matches('/')).exists() => {}
            Err(e) => {
                return Err(Error::Invalid {
                    option: option.to_string(),
                    expected: "a package built into the store".into(),
                    found: format!("{pkg}, which cannot be read ({e})"),
                })
            }
        }
        names.sort();
        Ok(names)
    }

    fn add_extra(&mut self, name: &str, extra: Extra) -> Result<String, Error> {
        let h = extra.nar_hash();
        let p = self
            .store
            .make_fixed_output_path(
                FileIngestionMethod::Recursive,
                &h,
                name,
                &Default::default(),
                false,
            )
            .map_err(|e| Error::Store(format!("{name}: {e}")))?;
        let full = self.store.print(&p);
        self.extra.insert(full.clone(), extra);
        Ok(full)
    }

    /// `pkgs.writeText name text`.
    pub fn add_text_path(&mut self, name: &str, text: String) -> Result<String, Error> {
        self.add_extra(
            name,
            Extra::File {
                data: text.into_bytes(),
                executable: false,
            },
        )
    }

    pub fn add_tree_path(&mut self, name: &str, t: Tree) -> Result<String, Error> {
        self.add_extra(name, Extra::Dir(t))
    }
}

/// Renders a host's evaluated configuration (JSON) into its toplevel.
pub fn render(config: &serde_json::Value, opts: &Options) -> Result<Rendered, Error> {
    let cfg: HostConfig = serde_json::from_value(config.clone()).map_err(|e| {
        Error::Config(format!(
            "{e} (the JSON of config.system.build.oxPlan does not match the option types)"
        ))
    })?;
    render_config(&cfg, opts)
}

pub fn render_config(cfg: &HostConfig, opts: &Options) -> Result<Rendered, Error> {
    let store = StoreDir::new(&opts.store_dir).map_err(|e| Error::Store(e.to_string()))?;
    let host = cfg.networking.host_name.clone();
    if host.is_empty() || host.contains('/') || host.contains(char::is_whitespace) {
        return Err(Error::Invalid {
            option: "networking.hostName".into(),
            expected: "a non-empty host name without `/` or spaces".into(),
            found: format!("{host:?}"),
        });
    }
    let mut cx = Ctx {
        cfg,
        store_dir: opts.store_dir.clone(),
        store_root: opts.store_root.clone(),
        store,
        tree: Tree::new(),
        extra: BTreeMap::new(),
        etc: BTreeMap::new(),
    };

    // user-defined environment.etc entries first: generated files skip a
    // target the user already defined (the user's entry wins)
    files::user_etc(&mut cx)?;

    let sd = &cfg.systemd;
    let timers = units::timers_with_start_at(&sd.services, &sd.timers);
    for (kind, set) in [
        (units::Kind::Service, &sd.services),
        (units::Kind::Timer, &timers),
        (units::Kind::Socket, &sd.sockets),
        (units::Kind::Path, &sd.paths),
        (units::Kind::Target, &sd.targets),
        (units::Kind::Slice, &sd.slices),
    ] {
        cx.render_units(kind, set, "system")?;
    }
    let utimers = units::timers_with_start_at(&sd.user.services, &sd.user.timers);
    for (kind, set) in [
        (units::Kind::Service, &sd.user.services),
        (units::Kind::Timer, &utimers),
        (units::Kind::Socket, &sd.user.sockets),
        (units::Kind::Path, &sd.user.paths),
        (units::Kind::Target, &sd.user.targets),
    ] {
        cx.render_units(kind, set, "user")?;
    }

    files::generated(&mut cx)?;
    let users = files::users(cfg)?;
    let home = home::render_homes(&mut cx)?;

    let mut packages: Vec<plan::Package> = Vec::new();
    let sources = cfg
        .environment
        .system_packages
        .iter()
        .map(|p| ("environment.systemPackages".to_string(), p))
        .chain(cfg.home_manager.users.iter().flat_map(|(u, h)| {
            h.home.packages.iter().map(move |p| {
                (
                    format!("home-manager.users.{}.home.packages", show_attr(u)),
                    p,
                )
            })
        }));
    for (option, p) in sources {
        // activation installs exactly these versions with apt
        let version = p.version().ok_or_else(|| Error::Invalid {
            option: option.clone(),
            expected: "Debian packages pinned to a version".into(),
            found: format!(
                "`{}` without one (it is neither in ox.lock nor in the pin table; pin it with `ox pkgs add {}`, or as {{ name = \"{}\"; version = \"…\"; }})",
                p.name(),
                p.name(),
                p.name()
            ),
        })?;
        packages.push(plan::Package {
            name: p.name().to_string(),
            version: Some(version.to_string()),
            sha256: p.sha256().map(str::to_string),
        });
    }
    packages.sort();
    packages.dedup();
    for w in packages.windows(2) {
        if w[0].name == w[1].name {
            return Err(Error::Invalid {
                option: "environment.systemPackages".into(),
                expected: "one version per package".into(),
                found: format!(
                    "{} pinned to {} and {}",
                    w[0].name,
                    w[0].version.as_deref().unwrap_or_default(),
                    w[1].version.as_deref().unwrap_or_default()
                ),
            });
        }
    }

    let plan = Plan {
        format_version: plan::FORMAT_VERSION,
        host_name: host.clone(),
        etc: cx.etc.values().cloned().collect(),
        users: users.0,
        groups: users.1,
        mutable_users: cfg.users.mutable_users,
        packages,
        tmpfiles: sd.tmpfiles.rules.clone(),
        home,
        secrets: secrets::normalize(&cfg.secrets)?,
    };
    let manifest = Manifest {
        format_version: plan::FORMAT_VERSION,
        ox_version: opts.ox_version.clone(),
        host_name: host.clone(),
        system: cfg.system.system.clone().unwrap_or(opts.system.clone()),
        state_version: cfg.system.state_version.clone(),
        references: cx
            .extra
            .keys()
            .chain(opts.references.iter())
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let mut tree = cx.tree;
    tree.file("activation.json", pretty_json(&plan)?, "activation.json")?;
    tree.file("ox-system.json", pretty_json(&manifest)?, "ox-system.json")?;
    Ok(Rendered {
        name: format!("ox-system-{host}"),
        toplevel: tree,
        extra: cx.extra,
        plan,
        manifest,
    })
}

fn pretty_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| Error::Config(e.to_string()))?;
    s.push('\n');
    Ok(s.into_bytes())
}

/// An attribute name as NixOS error messages show it: quoted unless it
/// is a plain identifier.
pub fn show_attr(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '\''));
    if plain {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

#[cfg(test)]
mod debian_etc_tests {
    #[test]
    fn units_and_links_debian_ships_are_known() {
        // Debian's own ssh.service enablement and alias: a host that
        // declares ssh.service itself replaces them (backed up)
        assert!(super::debian_ships(
            "systemd/system/multi-user.target.wants/ssh.service"
        ));
        assert!(super::debian_ships("systemd/system/sshd.service"));
        assert!(super::debian_ships("motd"));
        assert_eq!(
            super::default_on_conflict("/issue"),
            super::plan::OnConflict::Backup
        );
        assert_eq!(
            super::default_on_conflict("systemd/system/web.service"),
            super::plan::OnConflict::Error
        );
        assert!(
            !super::debian_ships("passwd"),
            "account databases are never backed up by default"
        );
    }
}
