//! `activation.json`'s `secrets`: sops-nix's `manifest.json` shape
//! (docs/toplevel.md, docs/secrets.md). The builder writes `[]` or the
//! object; the reader also takes the forms older toplevels, fixtures
//! and hand-written `ox secrets install` manifests use (see
//! [`Secrets::from_value`]). Only references live here: sops files are
//! the encrypted files, template contents hold placeholders.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A host's secrets: `[]` in the JSON when it has none (so a toplevel
/// without secrets keeps the plain shape), else the manifest object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Secrets(pub Option<Manifest>);

fn default_mount_point() -> String {
    "/run/secrets.d".into()
}
fn default_symlink_path() -> String {
    "/run/secrets".into()
}
fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn yaml() -> String {
    "yaml".into()
}
fn mode_0400() -> String {
    "0400".into()
}

/// The manifest object. Absent fields read as sops-nix's defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub templates: Vec<Template>,
    #[serde(default = "default_mount_point")]
    pub secrets_mount_point: String,
    #[serde(default = "default_symlink_path")]
    pub symlink_path: String,
    #[serde(default = "one")]
    pub keep_generations: u32,
    /// `None` (absent): the host's ed25519 key, unless
    /// `ageSshKeyPaths` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key_paths: Option<Vec<String>>,
    /// sops-nix's name for the age ssh keys; read, never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ssh_key_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_key_file: Option<String>,
    #[serde(default = "yes")]
    pub use_tmpfs: bool,
}

impl Default for Manifest {
    fn default() -> Manifest {
        Manifest {
            secrets: vec![],
            templates: vec![],
            secrets_mount_point: default_mount_point(),
            symlink_path: default_symlink_path(),
            keep_generations: one(),
            ssh_key_paths: None,
            age_ssh_key_paths: None,
            age_key_file: None,
            use_tmpfs: yes(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// The file below the symlink path (may contain `/`).
    pub name: String,
    /// `/`-separated path into the file, `""` = the whole file; absent
    /// (`None`) = the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub sops_file: String,
    /// `yaml json binary dotenv ini`.
    #[serde(default = "yaml")]
    pub format: String,
    /// Octal.
    #[serde(default = "mode_0400")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// A path other than `<symlinkPath>/<name>`: a symlink to the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub restart_units: Vec<String>,
    #[serde(default)]
    pub reload_units: Vec<String>,
    #[serde(default)]
    pub needed_for_users: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// Rendered to `<symlinkPath>/rendered/<name>`.
    pub name: String,
    /// With placeholders for secret values.
    pub content: String,
    #[serde(default = "mode_0400")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub restart_units: Vec<String>,
    #[serde(default)]
    pub reload_units: Vec<String>,
}

impl Secrets {
    /// No manifest at all (`[]`).
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Whether any secret or template is declared.
    pub fn declares_any(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|m| !m.secrets.is_empty() || !m.templates.is_empty())
    }

    /// Reads the section. Besides `[]`, `null` and the manifest object,
    /// a non-empty array of entries is read (the form of early
    /// toplevels and of activation's fixtures): each entry has an
    /// optional `kind`, `"secret"`, `"template"` or `"settings"` (the
    /// object's other fields, replacing those of earlier settings);
    /// without `kind`, an entry with `content` is a template and any
    /// other a secret.
    pub fn from_value(v: Value) -> Result<Secrets, String> {
        match v {
            Value::Null => Ok(Secrets(None)),
            Value::Array(a) if a.is_empty() => Ok(Secrets(None)),
            Value::Array(entries) => from_entries(entries).map(|m| Secrets(Some(m))),
            v @ Value::Object(_) => serde_json::from_value(v)
                .map(|m| Secrets(Some(m)))
                .map_err(|e| format!("secrets: {e}")),
            other => Err(format!(
                "secrets: expected [] or an object (sops.*), found {other}"
            )),
        }
    }
}

fn from_entries(entries: Vec<Value>) -> Result<Manifest, String> {
    let mut m = Manifest::default();
    let (mut ns, mut nt) = (0, 0);
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
            "secret" => {
                let s = serde_json::from_value(e).map_err(|x| format!("secrets[{ns}]: {x}"))?;
                m.secrets.push(s);
                ns += 1;
            }
            "template" => {
                let t = serde_json::from_value(e).map_err(|x| format!("templates[{nt}]: {x}"))?;
                m.templates.push(t);
                nt += 1;
            }
            "settings" => {
                let mut st: Manifest =
                    serde_json::from_value(e).map_err(|x| format!("settings entry: {x}"))?;
                st.secrets = std::mem::take(&mut m.secrets);
                st.templates = std::mem::take(&mut m.templates);
                m = st;
            }
            k => {
                return Err(format!(
                    "unknown entry kind '{k}' (expected secret, template or settings)"
                ))
            }
        }
    }
    Ok(m)
}

impl Serialize for Secrets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            None => Vec::<()>::new().serialize(s),
            Some(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Secrets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Secrets::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_forms() {
        for j in ["[]", "null"] {
            let s: Secrets = serde_json::from_str(j).unwrap();
            assert!(s.is_empty() && !s.declares_any());
        }
        assert_eq!(serde_json::to_string(&Secrets(None)).unwrap(), "[]");
        let s: Secrets = serde_json::from_str("{}").unwrap();
        assert!(!s.is_empty() && !s.declares_any());
        let e = serde_json::from_str::<Secrets>("1").unwrap_err();
        assert!(e.to_string().contains("expected [] or an object"), "{e}");
    }

    #[test]
    fn object_defaults_and_round_trip() {
        let s: Secrets =
            serde_json::from_str(r#"{"secrets": [{"name": "a", "sopsFile": "/s.yaml"}]}"#).unwrap();
        let m = s.0.as_ref().unwrap();
        let x = &m.secrets[0];
        assert_eq!((x.key.as_deref(), x.format.as_str()), (None, "yaml"));
        assert_eq!(x.mode, "0400");
        assert_eq!(m.symlink_path, "/run/secrets");
        assert_eq!((m.keep_generations, m.use_tmpfs), (1, true));
        let back: Secrets = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn entry_array_with_kinds() {
        let s: Secrets = serde_json::from_str(
            r#"[{"kind": "secret", "name": "a", "sopsFile": "/s.yaml"},
                {"kind": "settings", "sshKeyPaths": [], "keepGenerations": 2},
                {"name": "t", "content": "x"}, {"name": "b", "sopsFile": "/s.yaml"}]"#,
        )
        .unwrap();
        let m = s.0.unwrap();
        let names: Vec<&str> = m.secrets.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(m.templates[0].name, "t");
        assert_eq!(m.ssh_key_paths, Some(vec![]));
        assert_eq!(m.keep_generations, 2);
        let e = serde_json::from_str::<Secrets>(r#"[{"kind": "nope"}]"#).unwrap_err();
        assert!(e.to_string().contains("unknown entry kind"), "{e}");
        let e = serde_json::from_str::<Secrets>(r#"[{"name": "a"}]"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("secrets[0]: missing field `sopsFile`"),
            "{e}"
        );
    }
}
