//! A host's secrets as `ox_sops::install` takes them, from the JSON form
//! (`activation.json`'s `secrets`, sops-nix's `manifest.json` field
//! names): the types and their lenient reading are `ox_plan::secrets`'s
//! (docs/toplevel.md); this module fills in what the JSON leaves out
//! (a secret's `key` is its name; owners given as ids) and splits off
//! the secrets needed before users exist.

use std::path::PathBuf;

use ox_plan::secrets::Secrets;

use crate::install::{parse_mode, Secret, Spec, Template};
use crate::store::Format;
use crate::Error;

/// A host's secrets and templates, split into the normal set and the
/// set needed before users exist.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// For `/run/secrets` (owners resolved).
    pub spec: Spec,
    /// For `/run/secrets-for-users` (`neededForUsers`: root-owned,
    /// installed before users are created); `None` when there are none.
    pub for_users: Option<Spec>,
}

fn who(name: &Option<String>, id: Option<u32>) -> Option<String> {
    name.clone()
        .or_else(|| id.filter(|i| *i != 0).map(|i| i.to_string()))
}

fn mode(m: &str, what: &str) -> Result<u32, Error> {
    parse_mode(m).map_err(|e| Error::Install(format!("{what}: {e}")))
}

impl Manifest {
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, Error> {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::Install(format!("secrets manifest: not JSON: {e}")))?;
        Self::from_value(v)
    }

    pub fn from_value(v: serde_json::Value) -> Result<Manifest, Error> {
        let s =
            Secrets::from_value(v).map_err(|e| Error::Install(format!("secrets manifest: {e}")))?;
        Self::from_plan(&s)
    }

    /// From the parsed section; `[]` gives empty specs.
    pub fn from_plan(s: &Secrets) -> Result<Manifest, Error> {
        let m = s.0.clone().unwrap_or_default();
        let mut spec = Spec::new(vec![], vec![]);
        spec.mount_point = PathBuf::from(m.secrets_mount_point);
        spec.symlink = PathBuf::from(m.symlink_path);
        spec.keep_generations = m.keep_generations as usize;
        if m.ssh_key_paths.is_some() || m.age_ssh_key_paths.is_some() {
            spec.ssh_key_paths = m
                .age_ssh_key_paths
                .into_iter()
                .flatten()
                .chain(m.ssh_key_paths.into_iter().flatten())
                .map(PathBuf::from)
                .collect();
        }
        spec.age_key_file = m.age_key_file.map(PathBuf::from);
        spec.mount_tmpfs = m.use_tmpfs;
        let mut users = spec.clone();
        users.mount_point = PathBuf::from(format!("{}-for-users.d", strip_d(&spec.mount_point)));
        users.symlink = PathBuf::from(format!("{}-for-users", spec.symlink.display()));
        users.ignore_passwd = true;
        for s in m.secrets {
            let what = format!("secret '{}'", s.name);
            let secret = Secret {
                key: s.key.clone().unwrap_or_else(|| s.name.clone()),
                sops_file: PathBuf::from(s.sops_file),
                format: Format::from_name(&s.format)
                    .map_err(|e| Error::Install(format!("{what}: {e}")))?,
                owner: who(&s.owner, s.uid),
                group: who(&s.group, s.gid),
                mode: mode(&s.mode, &what)?,
                path: s.path.map(PathBuf::from),
                restart_units: s.restart_units,
                reload_units: s.reload_units,
                name: s.name,
            };
            if s.needed_for_users {
                users.secrets.push(secret);
            } else {
                spec.secrets.push(secret);
            }
        }
        for t in m.templates {
            let what = format!("template '{}'", t.name);
            spec.templates.push(Template {
                content: t.content,
                owner: who(&t.owner, t.uid),
                group: who(&t.group, t.gid),
                mode: mode(&t.mode, &what)?,
                path: t.path.map(PathBuf::from),
                restart_units: t.restart_units,
                reload_units: t.reload_units,
                name: t.name,
            });
        }
        Ok(Manifest {
            for_users: (!users.secrets.is_empty()).then_some(users),
            spec,
        })
    }
}

/// `/run/secrets.d` → `/run/secrets` (to derive `/run/secrets-for-users.d`).
fn strip_d(p: &std::path::Path) -> String {
    let s = p.display().to_string();
    s.strip_suffix(".d").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_form_splits_templates_and_users() {
        let j = br#"[
          {"name": "powerdns/api-key", "sopsFile": "/s/secrets.yaml", "restartUnits": ["pdns.service"]},
          {"name": "alice-pw", "sopsFile": "/s/u.yaml", "key": "users/alice", "neededForUsers": true},
          {"name": "pdns.env", "content": "PDNS_API_KEY=<SOPS:x:PLACEHOLDER>", "owner": "pdns", "group": "pdns", "mode": "0400"}
        ]"#;
        let m = Manifest::from_json(j).unwrap();
        assert_eq!(m.spec.secrets.len(), 1);
        assert_eq!(m.spec.secrets[0].key, "powerdns/api-key");
        assert_eq!(m.spec.secrets[0].mode, 0o400);
        assert_eq!(m.spec.templates[0].owner.as_deref(), Some("pdns"));
        let u = m.for_users.unwrap();
        assert_eq!(u.symlink, PathBuf::from("/run/secrets-for-users"));
        assert_eq!(u.mount_point, PathBuf::from("/run/secrets-for-users.d"));
        assert!(u.ignore_passwd);
        assert_eq!(u.secrets[0].key, "users/alice");
    }

    #[test]
    fn array_form_with_settings_entry() {
        let j = br#"[
          {"kind": "secret", "name": "a", "sopsFile": "/s.yaml"},
          {"kind": "settings", "sshKeyPaths": [], "ageKeyFile": "/var/lib/sops/key.txt", "keepGenerations": 2},
          {"kind": "template", "name": "t", "content": "x"}
        ]"#;
        let m = Manifest::from_json(j).unwrap();
        assert_eq!(m.spec.secrets.len(), 1);
        assert_eq!(m.spec.templates.len(), 1);
        assert!(m.spec.ssh_key_paths.is_empty());
        assert_eq!(
            m.spec.age_key_file,
            Some(PathBuf::from("/var/lib/sops/key.txt"))
        );
        assert_eq!(m.spec.keep_generations, 2);
        let e = Manifest::from_json(br#"[{"kind": "nope"}]"#).unwrap_err();
        assert!(e.to_string().contains("unknown entry kind"), "{e}");
    }

    #[test]
    fn object_form_and_errors() {
        let j = br#"{"secrets": [{"name": "a", "sopsFile": "/f.json", "format": "json", "mode": "0440", "uid": 5}],
                     "secretsMountPoint": "/tmp/x.d", "symlinkPath": "/tmp/x", "keepGenerations": 3,
                     "sshKeyPaths": ["/k"], "ageKeyFile": "/a.txt", "useTmpfs": false}"#;
        let m = Manifest::from_json(j).unwrap();
        let s = &m.spec;
        assert_eq!(s.secrets[0].format, Format::Json);
        assert_eq!(s.secrets[0].mode, 0o440);
        assert_eq!(s.secrets[0].owner.as_deref(), Some("5"));
        assert_eq!((s.keep_generations, s.mount_tmpfs), (3, false));
        assert_eq!(s.ssh_key_paths, [PathBuf::from("/k")]);
        let e =
            Manifest::from_json(br#"[{"name": "a", "sopsFile": "/f", "mode": "rw"}]"#).unwrap_err();
        assert!(e.to_string().contains("secret 'a'"), "{e}");
        let e = Manifest::from_json(br#"[{"name": "a"}]"#).unwrap_err();
        assert!(e.to_string().contains("sopsFile"), "{e}");
    }
}
