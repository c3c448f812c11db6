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

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::plan::Secrets;
use crate::Error;

/// Reads the module's output strictly: what the lenient reader of
/// `ox_plan` would let pass (an unknown field, the entry-list form of
/// early toplevels) is an error here, so the module and the contract
/// cannot drift apart unnoticed.
pub fn strict<'de, D: Deserializer<'de>>(d: D) -> Result<Secrets, D::Error> {
    use serde::de::Error as _;
    let v = Value::deserialize(d)?;
    if matches!(&v, Value::Array(a) if !a.is_empty()) {
        return Err(D::Error::custom(
            "secrets: expected [] or an object (sops.*), found a list",
        ));
    }
    let s = Secrets::from_value(v.clone()).map_err(D::Error::custom)?;
    if let Some(m) = &s.0 {
        let back = serde_json::to_value(m).map_err(D::Error::custom)?;
        unknown_fields(&v, &back, "secrets").map_err(D::Error::custom)?;
    }
    Ok(s)
}

/// A field of `input` the typed reading dropped (`back` is that reading
/// written out again; a `null` is dropped as an absent optional field).
fn unknown_fields(input: &Value, back: &Value, at: &str) -> Result<(), String> {
    match (input, back) {
        (Value::Object(i), Value::Object(b)) => {
            for (k, iv) in i {
                match b.get(k) {
                    Some(bv) => unknown_fields(iv, bv, &format!("{at}.{k}"))?,
                    None if !iv.is_null() => return Err(format!("{at}: unknown field `{k}`")),
                    None => {}
                }
            }
        }
        (Value::Array(i), Value::Array(b)) => {
            for (n, (iv, bv)) in i.iter().zip(b).enumerate() {
                unknown_fields(iv, bv, &format!("{at}[{n}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
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
    for p in m.ssh_key_paths.iter().flatten() {
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
        let mut d = serde_json::Deserializer::from_str(j);
        let s = strict(&mut d).map_err(|e| Error::Config(e.to_string()))?;
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
        // the lenient reader would drop these; the builder refuses them
        let e = parse(&with(
            r#"{"name": "a", "key": "a", "sopsFile": "/s", "format": "yaml", "mode": "0400", "restartUnit": []}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("secrets.secrets[0]: unknown field `restartUnit`"),
            "{e}"
        );
        let e = parse(r#"[{"name": "a", "sopsFile": "/s"}]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("found a list"), "{e}");
    }
}
