//! The JSON form of a host's secrets, with sops-nix's `manifest.json`
//! field names, so the module system can emit it and activation can feed
//! it to [`install`](crate::install::install).
//!
//! Two shapes are accepted by [`Manifest::from_json`]:
//! * an object: `{secrets, templates, secretsMountPoint, symlinkPath,
//!   keepGenerations, sshKeyPaths, ageSshKeyPaths, ageKeyFile, useTmpfs}`
//!   (every field optional);
//! * a bare array of entries (the `secrets` list of `activation.json`):
//!   each has an optional `kind`: `"secret"`, `"template"` or
//!   `"settings"` (the object form's other fields: sshKeyPaths,
//!   ageKeyFile, …); without `kind`, an entry with `content` is a
//!   template and any other a secret.
//!
//! Secret entry: `{name, key?, path?, owner?, uid?, group?, gid?,
//! sopsFile, format?, mode?, restartUnits?, reloadUnits?, neededForUsers?}`.
//! Template entry: `{name, content, path?, owner?, uid?, group?, gid?,
//! mode?, restartUnits?, reloadUnits?}`. `mode` is an octal string
//! (default `"0400"`), `format` one of yaml/json/dotenv/ini/binary
//! (default yaml), `key` defaults to the name.

use std::path::PathBuf;

use serde::Deserialize;

use crate::install::{parse_mode, Secret, Spec, Template};
use crate::store::Format;
use crate::Error;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretJson {
    name: String,
    key: Option<String>,
    path: Option<PathBuf>,
    owner: Option<String>,
    uid: Option<u32>,
    group: Option<String>,
    gid: Option<u32>,
    sops_file: PathBuf,
    format: Option<String>,
    mode: Option<String>,
    #[serde(default)]
    restart_units: Vec<String>,
    #[serde(default)]
    reload_units: Vec<String>,
    #[serde(default)]
    needed_for_users: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TemplateJson {
    name: String,
    content: String,
    path: Option<PathBuf>,
    owner: Option<String>,
    uid: Option<u32>,
    group: Option<String>,
    gid: Option<u32>,
    mode: Option<String>,
    #[serde(default)]
    restart_units: Vec<String>,
    #[serde(default)]
    reload_units: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ManifestJson {
    secrets: Vec<serde_json::Value>,
    templates: Vec<serde_json::Value>,
    secrets_mount_point: Option<PathBuf>,
    symlink_path: Option<PathBuf>,
    keep_generations: Option<usize>,
    ssh_key_paths: Option<Vec<PathBuf>>,
    age_ssh_key_paths: Option<Vec<PathBuf>>,
    age_key_file: Option<PathBuf>,
    use_tmpfs: Option<bool>,
}

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

fn mode(m: &Option<String>, what: &str) -> Result<u32, Error> {
    match m {
        None => Ok(0o400),
        Some(s) => parse_mode(s).map_err(|e| Error::Install(format!("{what}: {e}"))),
    }
}

fn bad(what: &str, e: serde_json::Error) -> Error {
    Error::Install(format!("secrets manifest: {what}: {e}"))
}

impl Manifest {
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, Error> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad("not JSON", e))?;
        Self::from_value(v)
    }

    pub fn from_value(v: serde_json::Value) -> Result<Manifest, Error> {
        let m: ManifestJson = match v {
            serde_json::Value::Array(entries) => {
                // entries by `kind` ("secret", "template", "settings"),
                // else a template has `content`
                let mut m = ManifestJson::default();
                for mut e in entries {
                    let kind = match e.get("kind").and_then(|k| k.as_str()) {
                        Some(k) => k.to_string(),
                        None if e.get("content").is_some() => "template".into(),
                        None => "secret".into(),
                    };
                    if let Some(o) = e.as_object_mut() {
                        o.remove("kind");
                    }
                    match kind.as_str() {
                        "secret" => m.secrets.push(e),
                        "template" => m.templates.push(e),
                        "settings" => {
                            let mut st: ManifestJson =
                                serde_json::from_value(e).map_err(|x| bad("settings entry", x))?;
                            st.secrets = std::mem::take(&mut m.secrets);
                            st.templates = std::mem::take(&mut m.templates);
                            m = st;
                        }
                        k => {
                            return Err(Error::Install(format!(
                                "secrets manifest: unknown entry kind '{k}' (expected secret, template or settings)"
                            )))
                        }
                    }
                }
                m
            }
            v => serde_json::from_value(v).map_err(|e| bad("top level", e))?,
        };
        let mut spec = Spec::new(vec![], vec![]);
        if let Some(p) = m.secrets_mount_point {
            spec.mount_point = p;
        }
        if let Some(p) = m.symlink_path {
            spec.symlink = p;
        }
        if let Some(k) = m.keep_generations {
            spec.keep_generations = k;
        }
        if m.ssh_key_paths.is_some() || m.age_ssh_key_paths.is_some() {
            spec.ssh_key_paths = m
                .age_ssh_key_paths
                .into_iter()
                .flatten()
                .chain(m.ssh_key_paths.into_iter().flatten())
                .collect();
        }
        spec.age_key_file = m.age_key_file;
        if let Some(t) = m.use_tmpfs {
            spec.mount_tmpfs = t;
        }
        let mut users = spec.clone();
        users.mount_point = PathBuf::from(format!("{}-for-users.d", strip_d(&spec.mount_point)));
        users.symlink = PathBuf::from(format!("{}-for-users", spec.symlink.display()));
        users.ignore_passwd = true;
        for (i, raw) in m.secrets.into_iter().enumerate() {
            let s: SecretJson =
                serde_json::from_value(raw).map_err(|e| bad(&format!("secrets[{i}]"), e))?;
            let what = format!("secret '{}'", s.name);
            let secret = Secret {
                key: s.key.clone().unwrap_or_else(|| s.name.clone()),
                sops_file: s.sops_file,
                format: Format::from_name(s.format.as_deref().unwrap_or("yaml"))
                    .map_err(|e| Error::Install(format!("{what}: {e}")))?,
                owner: who(&s.owner, s.uid),
                group: who(&s.group, s.gid),
                mode: mode(&s.mode, &what)?,
                path: s.path,
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
        for (i, raw) in m.templates.into_iter().enumerate() {
            let t: TemplateJson =
                serde_json::from_value(raw).map_err(|e| bad(&format!("templates[{i}]"), e))?;
            let what = format!("template '{}'", t.name);
            spec.templates.push(Template {
                content: t.content,
                owner: who(&t.owner, t.uid),
                group: who(&t.group, t.gid),
                mode: mode(&t.mode, &what)?,
                path: t.path,
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
