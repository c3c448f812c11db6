//! Test support: hand-built toplevels in the layout of docs/toplevel.md,
//! without the evaluator or the builder. The store path's hash is a
//! digest of the fixture's content, so equal fixtures give equal paths
//! (as the real builder does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::plan::{
    EtcEntry, Group, Home, HomeActivation, HomeFile, OnConflict, Package, Plan, User,
};

#[derive(Clone, Debug, Default)]
pub struct Fixture {
    plan: Plan,
    /// path inside the toplevel → content
    files: BTreeMap<String, Vec<u8>>,
    /// path inside the toplevel → symlink target
    links: BTreeMap<String, String>,
    /// `secrets` entries, written in the entry-list form that early
    /// toplevels used (so the lenient reading stays tested).
    secrets: Vec<serde_json::Value>,
}

impl Fixture {
    pub fn new(host: &str) -> Fixture {
        Fixture {
            plan: Plan {
                format_version: 1,
                host_name: host.into(),
                mutable_users: true,
                ..Plan::default()
            },
            ..Fixture::default()
        }
    }

    /// A symlinked /etc entry with this content.
    pub fn etc(self, target: &str, text: &str) -> Fixture {
        self.etc_with(target, text, "symlink", "root", "root", OnConflict::Error)
    }

    /// An /etc entry with explicit mode/owner/onConflict.
    pub fn etc_with(
        mut self,
        target: &str,
        text: &str,
        mode: &str,
        user: &str,
        group: &str,
        on_conflict: OnConflict,
    ) -> Fixture {
        let source = format!("etc/{target}");
        self.files.insert(source.clone(), text.as_bytes().to_vec());
        self.plan.etc.retain(|e| e.target != target);
        self.plan.etc.push(EtcEntry {
            target: target.into(),
            source,
            mode: mode.into(),
            user: user.into(),
            group: group.into(),
            on_conflict,
        });
        self
    }

    /// A system unit, linked into `<target>.wants` for each `wanted_by`.
    pub fn unit(mut self, name: &str, text: &str, wanted_by: &[&str]) -> Fixture {
        self.files.insert(
            format!("etc/systemd/system/{name}"),
            text.as_bytes().to_vec(),
        );
        for t in wanted_by {
            self.links.insert(
                format!("etc/systemd/system/{t}.wants/{name}"),
                format!("../{name}"),
            );
        }
        self
    }

    pub fn user(mut self, u: User) -> Fixture {
        self.plan.users.push(u);
        self
    }

    /// A normal user with defaults (home /home/NAME, bash).
    pub fn normal_user(self, name: &str) -> Fixture {
        self.user(User {
            name: name.into(),
            is_normal_user: true,
            group: "users".into(),
            create_home: true,
            ..User::default()
        })
    }

    pub fn group(mut self, name: &str) -> Fixture {
        self.plan.groups.push(Group {
            name: name.into(),
            ..Group::default()
        });
        self
    }

    pub fn package(mut self, name: &str, version: &str) -> Fixture {
        self.plan.packages.push(Package {
            name: name.into(),
            version: Some(version.into()),
            sha256: None,
        });
        self
    }

    /// A `secrets` entry (sops-nix manifest form, see ox-sops).
    pub fn secret(mut self, entry: serde_json::Value) -> Fixture {
        self.secrets.push(entry);
        self
    }

    pub fn tmpfile(mut self, line: &str) -> Fixture {
        self.plan.tmpfiles.push(line.into());
        self
    }

    fn home_mut(&mut self, user: &str) -> &mut Home {
        if !self.plan.home.iter().any(|h| h.user == user) {
            self.plan.home.push(Home {
                user: user.into(),
                ..Home::default()
            });
        }
        self.plan
            .home
            .iter_mut()
            .find(|h| h.user == user)
            .expect("just added")
    }

    pub fn home_file(mut self, user: &str, target: &str, text: &str) -> Fixture {
        let source = format!("home/{user}/{target}");
        self.files.insert(source.clone(), text.as_bytes().to_vec());
        self.home_mut(user).files.push(HomeFile {
            target: target.into(),
            source,
            executable: false,
            on_conflict: OnConflict::Error,
        });
        self
    }

    pub fn home_activation(mut self, user: &str, name: &str, script: &str) -> Fixture {
        self.home_mut(user).activation.push(HomeActivation {
            name: name.into(),
            script: script.into(),
            builtin: false,
        });
        self
    }

    /// A home entry that is a symlink inside the toplevel (e.g. a
    /// `default.target.wants` link of a user unit).
    pub fn home_link(mut self, user: &str, target: &str, dest: &str) -> Fixture {
        let source = format!("home/{user}/{target}");
        self.links.insert(source.clone(), dest.into());
        self.home_mut(user).files.push(HomeFile {
            target: target.into(),
            source,
            executable: false,
            on_conflict: OnConflict::Error,
        });
        self
    }

    /// Write the toplevel into `store_dir` (a host directory); returns
    /// its name (`<hash>-ox-system-<host>`), to be joined to the store
    /// path the activating process sees.
    pub fn write(&self, store_dir: &Path) -> std::io::Result<String> {
        let mut plan = self.plan.clone();
        plan.etc.sort_by(|a, b| a.target.cmp(&b.target));
        plan.users.sort_by(|a, b| a.name.cmp(&b.name));
        // concrete values, as the builder writes them (docs/toplevel.md)
        for u in &mut plan.users {
            u.home = Some(u.home_or_default());
            u.shell = Some(u.shell_or_default());
        }
        plan.groups.sort_by(|a, b| a.name.cmp(&b.name));
        plan.packages.sort();
        let mut json = serde_json::to_value(&plan).expect("plan serializes");
        json["secrets"] = serde_json::Value::Array(self.secrets.clone());
        let json = serde_json::to_string_pretty(&json).expect("plan serializes");
        let manifest = format!(
            "{{\"formatVersion\":1,\"oxVersion\":\"{}\",\"hostName\":\"{}\",\"system\":\"x86_64-linux\",\"stateVersion\":\"25.05\"}}\n",
            env!("CARGO_PKG_VERSION"),
            plan.host_name
        );
        let mut h = Sha256::new();
        h.update(json.as_bytes());
        for (k, v) in &self.files {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v);
            h.update([1]);
        }
        for (k, v) in &self.links {
            h.update(k.as_bytes());
            h.update([2]);
            h.update(v.as_bytes());
        }
        let hash: String = hex::encode(h.finalize())[..32].to_string();
        let name = format!("{hash}-ox-system-{}", plan.host_name);
        let dir: PathBuf = store_dir.join(&name);
        if dir.exists() {
            return Ok(name);
        }
        let tmp = store_dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        std::fs::write(tmp.join("activation.json"), json)?;
        std::fs::write(tmp.join("ox-system.json"), manifest)?;
        for (k, v) in &self.files {
            let p = tmp.join(k);
            std::fs::create_dir_all(p.parent().expect("has parent"))?;
            std::fs::write(&p, v)?;
        }
        for (k, v) in &self.links {
            let p = tmp.join(k);
            std::fs::create_dir_all(p.parent().expect("has parent"))?;
            std::os::unix::fs::symlink(v, &p)?;
        }
        std::fs::rename(&tmp, &dir)?;
        Ok(name)
    }
}
