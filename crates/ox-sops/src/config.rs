//! `.sops.yaml` creation rules: which recipients (or key groups with a
//! Shamir threshold) and which crypt rule a new file gets, chosen by the
//! first rule whose `path_regex` matches the file's path relative to the
//! config file's directory. Used when creating files and by
//! `updatekeys`; decryption only ever reads the file's own metadata.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::metadata::{CryptRule, RULE_KEYS};
use crate::store::yaml;
use crate::tree::{Item, Value};
use crate::{EncryptOptions, Error};

/// One creation rule, resolved.
#[derive(Clone, Debug)]
pub struct CreationRule {
    pub path_regex: Option<Regex>,
    pub options: EncryptOptions,
}

/// A parsed `.sops.yaml`.
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub rules: Vec<CreationRule>,
}

fn cerr(path: &Path, msg: impl Into<String>) -> Error {
    Error::Config(format!("{}: {}", path.display(), msg.into()))
}

/// `age: "a, b"` or `age: [a, b]`.
fn key_list(v: &Value, path: &Path, what: &str) -> Result<Vec<String>, Error> {
    let mut out = vec![];
    let mut push = |s: &str| {
        for p in s.split(',') {
            let p = p.trim();
            if !p.is_empty() && !out.contains(&p.to_string()) {
                out.push(p.to_string());
            }
        }
    };
    match v {
        Value::Str(s) => push(s),
        Value::List(l) => {
            for x in l {
                match x {
                    Value::Str(s) => push(s),
                    Value::Comment(_) => {}
                    _ => return Err(cerr(path, format!("{what}: entries must be strings"))),
                }
            }
        }
        Value::Null => {}
        _ => return Err(cerr(path, format!("{what}: expected a string or a list"))),
    }
    Ok(out)
}

fn parse_rule(v: &Value, path: &Path, i: usize) -> Result<CreationRule, Error> {
    let Value::Map(items) = v else {
        return Err(cerr(path, format!("creation_rules[{i}] must be a map")));
    };
    let mut rule = CreationRule {
        path_regex: None,
        options: EncryptOptions::default(),
    };
    let mut crypt: Option<CryptRule> = None;
    let mut flat_age = vec![];
    let mut groups: Vec<Vec<String>> = vec![];
    for it in items {
        let Item::Pair(k, v) = it else { continue };
        let what = format!("creation_rules[{i}].{k}");
        match k.as_str() {
            "path_regex" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| cerr(path, format!("{what} must be a string")))?;
                rule.path_regex =
                    Some(Regex::new(s).map_err(|e| cerr(path, format!("{what}: {e}")))?);
            }
            "age" => flat_age = key_list(v, path, &what)?,
            "key_groups" => {
                let Value::List(l) = v else {
                    return Err(cerr(path, format!("{what} must be a list")));
                };
                for (gi, g) in l
                    .iter()
                    .filter(|g| !matches!(g, Value::Comment(_)))
                    .enumerate()
                {
                    let mut keys = match g.get("age") {
                        Some(a) => key_list(a, path, &format!("{what}[{gi}].age"))?,
                        None => vec![],
                    };
                    if let Some(Value::List(merge)) = g.get("merge") {
                        for m in merge {
                            if let Some(a) = m.get("age") {
                                for r in key_list(a, path, &format!("{what}[{gi}].merge.age"))? {
                                    if !keys.contains(&r) {
                                        keys.push(r);
                                    }
                                }
                            }
                        }
                    }
                    groups.push(keys);
                }
            }
            "shamir_threshold" => {
                rule.options.shamir_threshold = match v {
                    Value::Int(n) if *n >= 0 => *n as usize,
                    _ => return Err(cerr(path, format!("{what} must be a non-negative integer"))),
                }
            }
            "mac_only_encrypted" => {
                rule.options.mac_only_encrypted = matches!(v, Value::Bool(true))
            }
            k if RULE_KEYS.contains(&k) => {
                let s = v
                    .as_str()
                    .ok_or_else(|| cerr(path, format!("{what} must be a string")))?;
                if crypt.is_some() {
                    return Err(cerr(
                        path,
                        format!(
                            "creation_rules[{i}]: only one of {} may be set",
                            RULE_KEYS.join(", ")
                        ),
                    ));
                }
                crypt = Some(CryptRule::from_key(k, s).map_err(|e| cerr(path, e.to_string()))?);
            }
            // other key types and settings ox does not act on
            _ => {}
        }
    }
    if !groups.is_empty() && !flat_age.is_empty() {
        return Err(cerr(
            path,
            format!("creation_rules[{i}]: use either key_groups or age, not both"),
        ));
    }
    rule.options.key_groups = if groups.is_empty() {
        vec![flat_age]
    } else {
        groups
    };
    rule.options.rule = crypt.unwrap_or_default();
    Ok(rule)
}

impl Config {
    pub fn parse(text: &str, path: &Path) -> Result<Config, Error> {
        let docs = yaml::load(text).map_err(|e| cerr(path, e.to_string()))?;
        let mut rules = vec![];
        if let Some(Value::List(l)) = docs.first().and_then(|d| d.get("creation_rules")) {
            for (i, r) in l
                .iter()
                .filter(|r| !matches!(r, Value::Comment(_)))
                .enumerate()
            {
                rules.push(parse_rule(r, path, i)?);
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            rules,
        })
    }

    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Config::parse(&text, path)
    }

    /// Find `.sops.yaml` walking up from `start` (a directory), at most
    /// 100 levels like sops.
    pub fn find(start: &Path) -> Option<PathBuf> {
        let mut dir = Some(start);
        for _ in 0..100 {
            let d = dir?;
            let p = d.join(".sops.yaml");
            if p.is_file() {
                return Some(p);
            }
            dir = d.parent();
        }
        None
    }

    /// The options of the first rule matching `file`.
    pub fn rule_for(&self, file: &Path) -> Result<&CreationRule, Error> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        let abs = absolute(file);
        let rel = abs
            .strip_prefix(absolute(base))
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| file.to_path_buf());
        let rel = rel.to_string_lossy();
        self.rules
            .iter()
            .find(|r| r.path_regex.as_ref().is_none_or(|re| re.is_match(&rel)))
            .ok_or_else(|| {
                cerr(
                    &self.path,
                    format!("no creation rule matches the file '{rel}'"),
                )
            })
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Creation options for `file`: from `config` if given, else from the
/// `.sops.yaml` found walking up from the file's directory (then from
/// the current directory, where sops looks).
pub fn options_for(file: &Path, config: Option<&Path>) -> Result<EncryptOptions, Error> {
    let path = match config {
        Some(c) => c.to_path_buf(),
        None => {
            let abs = absolute(file);
            let dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
            Config::find(&dir)
                .or_else(|| std::env::current_dir().ok().and_then(|c| Config::find(&c)))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "no recipients given and no .sops.yaml found above {}",
                        file.display()
                    ))
                })?
        }
    };
    let cfg = Config::load(&path)?;
    let rule = cfg.rule_for(file)?;
    if rule.options.key_groups.iter().all(|g| g.is_empty()) {
        return Err(cerr(
            &path,
            "the matching creation rule has no age recipients",
        ));
    }
    Ok(rule.options.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins() {
        let text = "creation_rules:\n  - path_regex: shamir\\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age: [age1a]\n      - age: [age1b, age1c]\n  - path_regex: ^hosts/.*\\.yaml$\n    encrypted_regex: ^(data|password)$\n    mac_only_encrypted: true\n    age: >-\n      age1x,\n      age1y\n  - age: age1z\n";
        let cfg = Config::parse(text, Path::new("/repo/.sops.yaml")).unwrap();
        let r = cfg
            .rule_for(Path::new("/repo/secrets/shamir.yaml"))
            .unwrap();
        assert_eq!(
            r.options.key_groups,
            vec![
                vec!["age1a".to_string()],
                vec!["age1b".into(), "age1c".into()]
            ]
        );
        assert_eq!(r.options.shamir_threshold, 2);
        let r = cfg.rule_for(Path::new("/repo/hosts/a.yaml")).unwrap();
        assert_eq!(
            r.options.key_groups,
            vec![vec!["age1x".to_string(), "age1y".into()]]
        );
        assert!(r.options.mac_only_encrypted);
        assert!(matches!(r.options.rule, CryptRule::EncryptedRegex(_)));
        // relative to the config's directory: /repo/x/hosts/a.yaml does not match ^hosts/
        let r = cfg.rule_for(Path::new("/repo/x/hosts/a.yaml")).unwrap();
        assert_eq!(r.options.key_groups, vec![vec!["age1z".to_string()]]);
    }

    #[test]
    fn two_crypt_rules_are_an_error() {
        let text =
            "creation_rules:\n  - age: age1a\n    encrypted_regex: a\n    unencrypted_suffix: _u\n";
        let e = Config::parse(text, Path::new(".sops.yaml")).unwrap_err();
        assert!(e.to_string().contains("only one of"), "{e}");
    }
}
