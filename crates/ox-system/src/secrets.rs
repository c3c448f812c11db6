//! The `secrets` section of `activation.json`, from `sops.*`
//! (nix/modules/security/sops.nix emits it as
//! `system.build.oxSecrets`): the secrets to decrypt at activation and
//! the templates to render, in sops-nix's `manifest.json` shape, which
//! activation hands to ox-sops unchanged.
//!
//! Only references go through here: the sops files are encrypted store
//! paths (or files on the host), template contents hold placeholders,
//! never values. This module validates names, modes and paths so a
//! mistake is a build error naming the option, not an activation error.

use serde::{Deserialize, Serialize};

use crate::Error;

/// A host's secrets: `[]` in the JSON when it has none (so a toplevel
/// without secrets keeps the plain shape), else the manifest object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Secrets(pub Option<Manifest>);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub secrets: Vec<Secret>,
    pub templates: Vec<Template>,
    pub secrets_mount_point: String,
    pub symlink_path: String,
    pub keep_generations: u32,
    pub ssh_key_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_key_file: Option<String>,
    pub use_tmpfs: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    pub key: String,
    pub sops_file: String,
    pub format: String,
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
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub content: String,
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
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
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
        use serde::de::Error as _;
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::Null => Ok(Secrets(None)),
            serde_json::Value::Array(a) if a.is_empty() => Ok(Secrets(None)),
            v @ serde_json::Value::Object(_) => serde_json::from_value(v)
                .map(|m| Secrets(Some(m)))
                .map_err(|e| D::Error::custom(format!("secrets: {e}"))),
            other => Err(D::Error::custom(format!(
                "secrets: expected [] or an object (sops.*), found {other}"
            ))),
        }
    }
}

fn invalid(option: String, expected: &str, found: String) -> Error {
    Error::Invalid {
        option,
        expected: expected.into(),
        found,
    }
}

fn check_mode(option: String, m: &str) -> Result<(), Error> {
    let ok = (3..=4).contains(&m.len()) && m.bytes().all(|b| (b'0'..=b'7').contains(&b))
        || m.len() == 5 && m.starts_with('0') && m[1..].bytes().all(|b| (b'0'..=b'7').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            option,
            "an octal mode like \"0400\"",
            format!("{m:?}"),
        ))
    }
}

fn check_name(option: String, n: &str) -> Result<(), Error> {
    let bad = n.is_empty()
        || n.starts_with('/')
        || n.split('/').any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(invalid(
            option,
            "a relative file name without `.`, `..` or empty components",
            format!("{n:?}"),
        ));
    }
    Ok(())
}

fn check_abs(option: String, p: &str) -> Result<(), Error> {
    if !p.starts_with('/') {
        return Err(invalid(option, "an absolute path", format!("{p:?}")));
    }
    Ok(())
}

/// Checks the section and puts secrets and templates in name order.
pub fn normalize(s: &Secrets) -> Result<Secrets, Error> {
    let Some(m) = &s.0 else {
        return Ok(Secrets(None));
    };
    let mut m = m.clone();
    m.secrets.sort_by(|a, b| a.name.cmp(&b.name));
    m.templates.sort_by(|a, b| a.name.cmp(&b.name));
    check_abs(
        "sops.defaultSecretsMountPoint".into(),
        &m.secrets_mount_point,
    )?;
    check_abs("sops.defaultSymlinkPath".into(), &m.symlink_path)?;
    for p in &m.ssh_key_paths {
        check_abs("sops.age.sshKeyPaths".into(), p)?;
    }
    if let Some(k) = &m.age_key_file {
        check_abs("sops.age.keyFile".into(), k)?;
    }
    for w in m.secrets.windows(2) {
        if w[0].name == w[1].name {
            return Err(invalid(
                format!("sops.secrets.{}.name", crate::show_attr(&w[0].name)),
                "a name no other secret has",
                format!("{:?} twice", w[0].name),
            ));
        }
    }
    for x in &m.secrets {
        let o = |f: &str| format!("sops.secrets.{}.{f}", crate::show_attr(&x.name));
        check_name(o("name"), &x.name)?;
        if x.name == "rendered" || x.name.starts_with("rendered/") {
            return Err(invalid(
                o("name"),
                "a name outside `rendered/` (templates are rendered there)",
                format!("{:?}", x.name),
            ));
        }
        check_mode(o("mode"), &x.mode)?;
        check_abs(o("sopsFile"), &x.sops_file)?;
        if !["yaml", "json", "binary", "dotenv", "ini"].contains(&x.format.as_str()) {
            return Err(invalid(
                o("format"),
                "one of yaml, json, binary, dotenv, ini",
                format!("{:?}", x.format),
            ));
        }
        if let Some(p) = &x.path {
            check_abs(o("path"), p)?;
        }
    }
    for w in m.templates.windows(2) {
        if w[0].name == w[1].name {
            return Err(invalid(
                format!("sops.templates.{}.name", crate::show_attr(&w[0].name)),
                "a name no other template has",
                format!("{:?} twice", w[0].name),
            ));
        }
    }
    for t in &m.templates {
        let o = |f: &str| format!("sops.templates.{}.{f}", crate::show_attr(&t.name));
        check_name(o("name"), &t.name)?;
        check_mode(o("mode"), &t.mode)?;
        if let Some(p) = &t.path {
            check_abs(o("path"), p)?;
        }
    }
    Ok(Secrets(Some(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(j: &str) -> Result<Secrets, Error> {
        let s: Secrets = serde_json::from_str(j).map_err(|e| Error::Config(e.to_string()))?;
        normalize(&s)
    }

    const BASE: &str = r#"{"secretsMountPoint": "/run/secrets.d", "symlinkPath": "/run/secrets",
        "keepGenerations": 1, "sshKeyPaths": ["/etc/ssh/ssh_host_ed25519_key"], "useTmpfs": true,
        "templates": [{"name": "pdns-env", "content": "K=<SOPS:x:PLACEHOLDER>\n", "mode": "0400", "owner": "pdns", "group": "pdns"}],
        "secrets": [SECRETS]}"#;

    fn with(secrets: &str) -> String {
        BASE.replace("SECRETS", secrets)
    }

    #[test]
    fn empty_stays_an_empty_list() {
        let s = parse("[]").unwrap();
        assert!(s.is_empty());
        assert_eq!(serde_json::to_string(&s).unwrap(), "[]");
    }

    #[test]
    fn object_round_trips_sorted() {
        let j = with(
            r#"{"name": "b", "key": "b", "sopsFile": "/ox/store/x-s.yaml", "format": "yaml", "mode": "0400"},
               {"name": "a/k", "key": "a/k", "sopsFile": "/ox/store/x-s.yaml", "format": "yaml", "mode": "440", "uid": 0, "restartUnits": ["x.service"]}"#,
        );
        let s = parse(&j).unwrap();
        let m = s.0.as_ref().unwrap();
        assert_eq!(m.secrets[0].name, "a/k");
        let back: Secrets = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn mistakes_name_the_option() {
        for (secret, option) in [
            (
                r#"{"name": "a", "key": "a", "sopsFile": "/s", "format": "yaml", "mode": "rw"}"#,
                "sops.secrets.a.mode",
            ),
            (
                r#"{"name": "../a", "key": "a", "sopsFile": "/s", "format": "yaml", "mode": "0400"}"#,
                "sops.secrets.\"../a\".name",
            ),
            (
                r#"{"name": "rendered/x", "key": "a", "sopsFile": "/s", "format": "yaml", "mode": "0400"}"#,
                "sops.secrets.\"rendered/x\".name",
            ),
            (
                r#"{"name": "a", "key": "a", "sopsFile": "rel.yaml", "format": "yaml", "mode": "0400"}"#,
                "sops.secrets.a.sopsFile",
            ),
            (
                r#"{"name": "a", "key": "a", "sopsFile": "/s", "format": "toml", "mode": "0400"}"#,
                "sops.secrets.a.format",
            ),
        ] {
            let e = parse(&with(secret)).unwrap_err().to_string();
            assert!(e.contains(option), "{e}");
        }
        let e = parse("{\"secrets\": 1}").unwrap_err().to_string();
        assert!(e.contains("secrets"), "{e}");
    }
}
