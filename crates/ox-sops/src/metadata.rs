//! The `sops:` metadata block: key groups (age keys kept, other key
//! types carried verbatim), Shamir threshold, `lastmodified`, `mac`, the
//! one crypt rule, `mac_only_encrypted` and `version`.

use regex::Regex;

use crate::tree::{Item, Value};
use crate::Error;

/// One age master key: the recipient and the armored age file that
/// wraps the data key (or this group's Shamir part).
#[derive(Clone, Debug, PartialEq)]
pub struct AgeKey {
    pub recipient: String,
    pub enc: String,
}

/// One key group. Non-age master keys (pgp, kms, …) are kept as they
/// were read so that edits which keep the data key do not drop them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    pub age: Vec<AgeKey>,
    pub other: Vec<Item>,
}

/// Which values get encrypted (sops allows exactly one rule).
#[derive(Clone, Debug)]
pub enum CryptRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    UnencryptedCommentRegex(Regex),
    EncryptedCommentRegex(Regex),
}

pub const RULE_KEYS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

impl Default for CryptRule {
    fn default() -> Self {
        CryptRule::UnencryptedSuffix("_unencrypted".into())
    }
}

impl CryptRule {
    /// Build a rule from its metadata/config key and value.
    pub fn from_key(key: &str, value: &str) -> Result<Self, Error> {
        let re = || {
            Regex::new(value)
                .map_err(|e| Error::Format(format!("invalid regular expression in {key}: {e}")))
        };
        Ok(match key {
            "unencrypted_suffix" => CryptRule::UnencryptedSuffix(value.into()),
            "encrypted_suffix" => CryptRule::EncryptedSuffix(value.into()),
            "unencrypted_regex" => CryptRule::UnencryptedRegex(re()?),
            "encrypted_regex" => CryptRule::EncryptedRegex(re()?),
            "unencrypted_comment_regex" => CryptRule::UnencryptedCommentRegex(re()?),
            "encrypted_comment_regex" => CryptRule::EncryptedCommentRegex(re()?),
            _ => return Err(Error::Format(format!("unknown crypt rule {key}"))),
        })
    }

    pub fn key_value(&self) -> (&'static str, String) {
        match self {
            CryptRule::UnencryptedSuffix(s) => ("unencrypted_suffix", s.clone()),
            CryptRule::EncryptedSuffix(s) => ("encrypted_suffix", s.clone()),
            CryptRule::UnencryptedRegex(r) => ("unencrypted_regex", r.as_str().into()),
            CryptRule::EncryptedRegex(r) => ("encrypted_regex", r.as_str().into()),
            CryptRule::UnencryptedCommentRegex(r) => {
                ("unencrypted_comment_regex", r.as_str().into())
            }
            CryptRule::EncryptedCommentRegex(r) => ("encrypted_comment_regex", r.as_str().into()),
        }
    }

    /// A comment matching a comment-regex rule is the marker itself and
    /// stays plain in both modes.
    pub fn comment_is_marker(&self, comment: &str) -> bool {
        match self {
            CryptRule::UnencryptedCommentRegex(r) | CryptRule::EncryptedCommentRegex(r) => {
                r.is_match(comment)
            }
            _ => false,
        }
    }

    /// sops' `shouldBeEncrypted`: `path` holds the map keys from the
    /// root, `comments` the comments that precede the item at each level.
    pub fn should_encrypt(&self, path: &[String], comments: &[Vec<String>]) -> bool {
        let any_comment = |r: &Regex| comments.iter().flatten().any(|c| r.is_match(c));
        match self {
            CryptRule::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            CryptRule::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            CryptRule::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            CryptRule::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
            CryptRule::UnencryptedCommentRegex(r) => !any_comment(r),
            CryptRule::EncryptedCommentRegex(r) => any_comment(r),
        }
    }
}

/// The parsed `sops` block.
#[derive(Clone, Debug)]
pub struct Metadata {
    pub key_groups: Vec<KeyGroup>,
    /// 0 when absent (then all groups are needed).
    pub shamir_threshold: usize,
    pub lastmodified: String,
    pub mac: String,
    pub rule: CryptRule,
    pub mac_only_encrypted: bool,
    pub version: String,
    /// Fields we do not interpret (e.g. `encrypted_suffix` neighbours
    /// from newer sops), written back as they were.
    pub extra: Vec<Item>,
}

/// The version string written into new files; sops only reads it to
/// detect a pre-3.3 KMS bug.
pub const VERSION: &str = "3.11.0";

const OTHER_KEY_TYPES: [&str; 6] = ["kms", "gcp_kms", "azure_kv", "hc_vault", "hckms", "pgp"];

fn str_of(v: &Value, what: &str) -> Result<String, Error> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Time(t) => Ok(t.clone()),
        Value::Float(f) => Ok(crate::tree::format_float(*f)),
        _ => Err(Error::Format(format!(
            "sops metadata: {what} must be a string"
        ))),
    }
}

fn is_empty_list(v: &Value) -> bool {
    matches!(v, Value::List(l) if l.is_empty()) || matches!(v, Value::Null)
}

fn parse_group(v: &Value, what: &str) -> Result<KeyGroup, Error> {
    let Value::Map(items) = v else {
        return Err(Error::Format(format!(
            "sops metadata: {what} must be a map"
        )));
    };
    let mut g = KeyGroup::default();
    for it in items {
        let Item::Pair(k, v) = it else { continue };
        if k == "age" {
            match v {
                Value::List(l) => {
                    for e in l {
                        let r = e.get("recipient").ok_or_else(|| {
                            Error::Format(format!(
                                "sops metadata: {what}.age entry without recipient"
                            ))
                        })?;
                        let enc = e.get("enc").ok_or_else(|| {
                            Error::Format(format!("sops metadata: {what}.age entry without enc"))
                        })?;
                        g.age.push(AgeKey {
                            recipient: str_of(r, "age.recipient")?.trim().to_string(),
                            enc: str_of(enc, "age.enc")?,
                        });
                    }
                }
                Value::Null => {}
                _ => {
                    return Err(Error::Format(format!(
                        "sops metadata: {what}.age must be a list"
                    )))
                }
            }
        } else if OTHER_KEY_TYPES.contains(&k.as_str()) && !is_empty_list(v) {
            g.other.push(it.clone());
        }
    }
    Ok(g)
}

impl Metadata {
    /// A fresh block for a new file.
    pub fn new(key_groups: Vec<KeyGroup>, shamir_threshold: usize, rule: CryptRule) -> Self {
        Metadata {
            key_groups,
            shamir_threshold,
            lastmodified: String::new(),
            mac: String::new(),
            rule,
            mac_only_encrypted: false,
            version: VERSION.into(),
            extra: vec![],
        }
    }

    /// Read the block from its tree form.
    pub fn from_value(v: &Value) -> Result<Self, Error> {
        let Value::Map(items) = v else {
            return Err(Error::Format("sops metadata is not a map".into()));
        };
        let mut m = Metadata::new(vec![], 0, CryptRule::default());
        let mut rule: Option<CryptRule> = None;
        let mut flat = Value::Map(vec![]);
        for it in items {
            let Item::Pair(k, val) = it else { continue };
            match k.as_str() {
                "key_groups" => match val {
                    Value::List(l) => {
                        for (i, g) in l.iter().enumerate() {
                            m.key_groups
                                .push(parse_group(g, &format!("key_groups[{i}]"))?);
                        }
                    }
                    Value::Null => {}
                    _ => {
                        return Err(Error::Format(
                            "sops metadata: key_groups must be a list".into(),
                        ))
                    }
                },
                "shamir_threshold" => {
                    m.shamir_threshold = str_of(val, k)?.parse().map_err(|_| {
                        Error::Format("sops metadata: shamir_threshold must be an integer".into())
                    })?
                }
                "lastmodified" => m.lastmodified = str_of(val, k)?,
                "mac" => m.mac = str_of(val, k)?,
                "version" => m.version = str_of(val, k)?,
                "mac_only_encrypted" => {
                    m.mac_only_encrypted = matches!(val, Value::Bool(true))
                        || matches!(val, Value::Str(s) if s == "true")
                }
                "age" => {
                    if let Value::Map(f) = &mut flat {
                        f.push(it.clone())
                    }
                }
                k if OTHER_KEY_TYPES.contains(&k) => {
                    if let Value::Map(f) = &mut flat {
                        f.push(it.clone())
                    }
                }
                k if RULE_KEYS.contains(&k) => {
                    let s = str_of(val, k)?;
                    if s.is_empty() {
                        continue;
                    }
                    if rule.is_some() {
                        return Err(Error::Format(
                            "sops metadata: more than one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, unencrypted_comment_regex, encrypted_comment_regex".into(),
                        ));
                    }
                    rule = Some(CryptRule::from_key(k, &s)?);
                }
                _ => m.extra.push(it.clone()),
            }
        }
        if m.key_groups.is_empty() {
            m.key_groups.push(parse_group(&flat, "sops")?);
        }
        if let Some(r) = rule {
            m.rule = r;
        }
        if m.lastmodified.is_empty() || m.mac.is_empty() {
            return Err(Error::Format(
                "sops metadata lacks lastmodified or mac".into(),
            ));
        }
        Ok(m)
    }

    fn group_items(g: &KeyGroup, out: &mut Vec<Item>) {
        for it in &g.other {
            if let Item::Pair(k, _) = it {
                if k != "pgp" {
                    out.push(it.clone());
                }
            }
        }
        if !g.age.is_empty() {
            out.push(Item::Pair(
                "age".into(),
                Value::List(
                    g.age
                        .iter()
                        .map(|a| {
                            Value::Map(vec![
                                Item::Pair("recipient".into(), Value::Str(a.recipient.clone())),
                                Item::Pair("enc".into(), Value::Str(a.enc.clone())),
                            ])
                        })
                        .collect(),
                ),
            ));
        }
    }

    /// The tree form, in the field order sops 3.11 writes.
    pub fn to_value(&self) -> Value {
        let mut out = vec![];
        let single = self.key_groups.len() <= 1;
        if !single {
            out.push(Item::Pair(
                "shamir_threshold".into(),
                Value::Int(self.shamir_threshold as i64),
            ));
            out.push(Item::Pair(
                "key_groups".into(),
                Value::List(
                    self.key_groups
                        .iter()
                        .map(|g| {
                            // sops 3.11 always writes `hc_vault` and `age`
                            // in group entries (no omitempty on those)
                            let mut items: Vec<Item> = g
                                .other
                                .iter()
                                .filter(|it| {
                                    !matches!(it, Item::Pair(k, _) if k == "pgp" || k == "hc_vault")
                                })
                                .cloned()
                                .collect();
                            items.push(
                                g.other
                                    .iter()
                                    .find(|it| matches!(it, Item::Pair(k, _) if k == "hc_vault"))
                                    .cloned()
                                    .unwrap_or(Item::Pair("hc_vault".into(), Value::List(vec![]))),
                            );
                            let mut age = vec![];
                            Self::group_items(
                                &KeyGroup {
                                    age: g.age.clone(),
                                    other: vec![],
                                },
                                &mut age,
                            );
                            items.extend(age);
                            if g.age.is_empty() {
                                items.push(Item::Pair("age".into(), Value::List(vec![])));
                            }
                            items.extend(
                                g.other
                                    .iter()
                                    .filter(|it| matches!(it, Item::Pair(k, _) if k == "pgp"))
                                    .cloned(),
                            );
                            Value::Map(items)
                        })
                        .collect(),
                ),
            ));
        } else if let Some(g) = self.key_groups.first() {
            Self::group_items(g, &mut out);
        }
        out.push(Item::Pair(
            "lastmodified".into(),
            Value::Str(self.lastmodified.clone()),
        ));
        out.push(Item::Pair("mac".into(), Value::Str(self.mac.clone())));
        if single {
            if let Some(g) = self.key_groups.first() {
                out.extend(
                    g.other
                        .iter()
                        .filter(|it| matches!(it, Item::Pair(k, _) if k == "pgp"))
                        .cloned(),
                );
            }
        }
        let (k, v) = self.rule.key_value();
        out.push(Item::Pair(k.into(), Value::Str(v)));
        if self.mac_only_encrypted {
            out.push(Item::Pair("mac_only_encrypted".into(), Value::Bool(true)));
        }
        out.extend(self.extra.iter().cloned());
        out.push(Item::Pair(
            "version".into(),
            Value::Str(self.version.clone()),
        ));
        Value::Map(out)
    }

    /// Every age recipient, in group order.
    pub fn recipients(&self) -> Vec<String> {
        self.key_groups
            .iter()
            .flat_map(|g| g.age.iter().map(|a| a.recipient.clone()))
            .collect()
    }
}
