//! The sops file format and age keys, byte-compatible with sops 3.x.
//!
//! This crate owns: reading and writing sops-encrypted YAML, JSON,
//! dotenv, INI and binary files (per-value AES-256-GCM with the key path
//! as AAD, the MAC, the `sops` metadata block, key groups with Shamir
//! threshold); age recipients and identities (X25519, ssh-ed25519,
//! ssh-rsa, the ssh → age conversion); `.sops.yaml` creation rules; plain
//! age files; and [`install`], which decrypts a host's secrets into a
//! fresh generation directory and atomically repoints a symlink.
//!
//! It must not know about the evaluator, the module system, the store,
//! systemd or the CLI: callers hand it file paths, identities and plain
//! structs (see [`install::Secret`], [`install::Template`]).
//!
//! Plaintext never appears in an [`Error`]: messages name files, key
//! paths and reasons only.
//!
//! Typical use:
//! ```no_run
//! use ox_sops::{Identities, Format};
//! let mut ids = Identities::new();
//! ids.add_ssh_key_file("/etc/ssh/ssh_host_ed25519_key".as_ref())?;
//! let file = ox_sops::decrypt_file("secrets.yaml".as_ref(), None, &ids)?;
//! let v = file.extract(&ox_sops::parse_extract(r#"["db"]["password"]"#)?)?;
//! # Ok::<(), ox_sops::Error>(())
//! ```

pub mod cipher;
pub mod config;
pub mod core;
pub mod install;
pub mod keys;
pub mod manifest;
pub mod metadata;
pub mod shamir;
pub mod store;
pub mod tree;

use std::path::{Path, PathBuf};

pub use cipher::Cipher;
pub use keys::{age_decrypt, age_encrypt, keygen, ssh_to_age, Identities};
pub use metadata::{AgeKey, CryptRule, KeyGroup, Metadata};
pub use store::Format;
pub use tree::{Item, Value};

/// Everything that can go wrong. No variant carries secret values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Format(String),
    #[error("{0}")]
    Crypto(String),
    #[error("{0}")]
    Key(String),
    #[error("no identity can decrypt: {0}")]
    NoKey(String),
    #[error("MAC mismatch: {0}")]
    MacMismatch(String),
    #[error("the file is already encrypted (it has a top-level 'sops' key)")]
    AlreadyEncrypted,
    #[error("the file is not sops-encrypted (no 'sops' metadata)")]
    NotEncrypted,
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Install(String),
    #[error("{file}: {source}")]
    InFile {
        file: PathBuf,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Wrap with the name of the file it concerns.
    pub fn in_file(self, file: &Path) -> Self {
        match self {
            e @ (Error::Io { .. } | Error::InFile { .. }) => e,
            e => Error::InFile {
                file: file.to_path_buf(),
                source: Box::new(e),
            },
        }
    }
}

/// A decrypted sops file: its plaintext tree, its metadata and data
/// key (kept to re-encrypt edits with the same key and IVs).
pub struct Decrypted {
    pub format: Format,
    pub branches: Vec<Value>,
    pub metadata: Metadata,
    key: [u8; 32],
    cipher: Cipher,
}

impl Decrypted {
    /// The plaintext file, as `sops -d` writes it.
    pub fn plaintext(&self) -> Result<Vec<u8>, Error> {
        store::emit(self.format, &self.branches, None)
    }

    /// The value at `path` (map keys and list indices) in the first document.
    pub fn extract(&self, path: &[PathSeg]) -> Result<&Value, Error> {
        let mut v = self
            .branches
            .first()
            .ok_or_else(|| Error::Format("empty document".into()))?;
        for (i, seg) in path.iter().enumerate() {
            let shown = || render_path(&path[..=i]);
            v = match (seg, v) {
                (PathSeg::Key(k), Value::Map(_)) => v
                    .get(k)
                    .ok_or_else(|| Error::Format(format!("key {} not found", shown())))?,
                (PathSeg::Index(n), Value::List(l)) => {
                    let items: Vec<&Value> = l
                        .iter()
                        .filter(|x| !matches!(x, Value::Comment(_)))
                        .collect();
                    items
                        .get(*n)
                        .copied()
                        .ok_or_else(|| Error::Format(format!("index {} out of range", shown())))?
                }
                _ => {
                    return Err(Error::Format(format!(
                        "{} does not address a {}",
                        shown(),
                        match seg {
                            PathSeg::Key(_) => "map",
                            PathSeg::Index(_) => "list",
                        }
                    )))
                }
            };
        }
        Ok(v)
    }

    /// `--extract` output: strings raw, other scalars as text, maps and
    /// lists in the file's format (YAML for dotenv/INI/binary).
    pub fn extract_bytes(&self, path: &[PathSeg]) -> Result<Vec<u8>, Error> {
        let v = self.extract(path)?;
        Ok(match v {
            Value::Map(_) | Value::List(_) => match self.format {
                Format::Json => store::json::emit(v)?,
                _ => store::yaml::emit_value(v),
            },
            v => v.display_text().unwrap_or_default(),
        })
    }

    /// Encrypt `branches` with this file's data key, keeping the IV of
    /// every unchanged value, with a new `lastmodified` and MAC.
    pub fn reencrypt(&mut self, mut branches: Vec<Value>) -> Result<Vec<u8>, Error> {
        let mut meta = self.metadata.clone();
        core::encrypt_tree(
            &mut branches,
            &mut meta,
            &mut self.cipher,
            &core::now_rfc3339(),
        )?;
        store::emit(self.format, &branches, Some(&meta))
    }

    /// Set the value at `path` in the first document (sops `set`):
    /// missing map keys are created, list indices must exist.
    pub fn set(&mut self, path: &[PathSeg], value: Value) -> Result<(), Error> {
        let (last, parents) = path
            .split_last()
            .ok_or_else(|| Error::Format("set: empty path".into()))?;
        let mut v = self
            .branches
            .first_mut()
            .ok_or_else(|| Error::Format("empty document".into()))?;
        for (i, seg) in parents.iter().enumerate() {
            let shown = render_path(&path[..=i]);
            v = match (seg, v) {
                (PathSeg::Key(k), Value::Map(items)) => {
                    let pos = items
                        .iter()
                        .position(|it| matches!(it, Item::Pair(x, _) if x == k));
                    let pos = match pos {
                        Some(p) => p,
                        None => {
                            items.push(Item::Pair(k.clone(), Value::Map(vec![])));
                            items.len() - 1
                        }
                    };
                    match &mut items[pos] {
                        Item::Pair(_, child) => child,
                        Item::Comment(_) => unreachable!("position() found a pair"),
                    }
                }
                (PathSeg::Index(n), Value::List(l)) => l
                    .iter_mut()
                    .filter(|x| !matches!(x, Value::Comment(_)))
                    .nth(*n)
                    .ok_or_else(|| Error::Format(format!("index {shown} out of range")))?,
                _ => {
                    return Err(Error::Format(format!(
                        "{shown} does not address a map or list"
                    )))
                }
            };
        }
        match (last, v) {
            (PathSeg::Key(k), Value::Map(items)) => {
                match items
                    .iter_mut()
                    .find(|it| matches!(it, Item::Pair(x, _) if x == k))
                {
                    Some(Item::Pair(_, old)) => *old = value,
                    _ => items.push(Item::Pair(k.clone(), value)),
                }
            }
            (PathSeg::Index(n), Value::List(l)) => {
                let slot = l
                    .iter_mut()
                    .filter(|x| !matches!(x, Value::Comment(_)))
                    .nth(*n)
                    .ok_or_else(|| {
                        Error::Format(format!("index {} out of range", render_path(path)))
                    })?;
                *slot = value;
            }
            _ => {
                return Err(Error::Format(format!(
                    "{} does not address a map or list",
                    render_path(path)
                )))
            }
        }
        Ok(())
    }

    /// Remove the value at `path` (sops `unset`).
    pub fn unset(&mut self, path: &[PathSeg]) -> Result<(), Error> {
        let (last, parents) = path
            .split_last()
            .ok_or_else(|| Error::Format("unset: empty path".into()))?;
        let parent = if parents.is_empty() {
            self.branches
                .first_mut()
                .ok_or_else(|| Error::Format("empty document".into()))?
        } else {
            // reuse extract's walk on a shared borrow to validate, then
            // walk mutably
            self.extract(parents)?;
            let mut v = &mut self.branches[0];
            for seg in parents {
                v = match (seg, v) {
                    (PathSeg::Key(k), Value::Map(items)) => items
                        .iter_mut()
                        .find_map(|it| match it {
                            Item::Pair(x, c) if x == k => Some(c),
                            _ => None,
                        })
                        .ok_or_else(|| Error::Format("key vanished".into()))?,
                    (PathSeg::Index(n), Value::List(l)) => l
                        .iter_mut()
                        .filter(|x| !matches!(x, Value::Comment(_)))
                        .nth(*n)
                        .ok_or_else(|| Error::Format("index vanished".into()))?,
                    _ => return Err(Error::Format("path vanished".into())),
                };
            }
            v
        };
        let missing = || Error::Format(format!("{} not found", render_path(path)));
        match (last, parent) {
            (PathSeg::Key(k), Value::Map(items)) => {
                let pos = items
                    .iter()
                    .position(|it| matches!(it, Item::Pair(x, _) if x == k))
                    .ok_or_else(missing)?;
                items.remove(pos);
            }
            (PathSeg::Index(n), Value::List(l)) => {
                let pos = l
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| !matches!(x, Value::Comment(_)))
                    .nth(*n)
                    .map(|(i, _)| i)
                    .ok_or_else(missing)?;
                l.remove(pos);
            }
            _ => return Err(missing()),
        }
        Ok(())
    }

    /// The data key (for `updatekeys`).
    pub fn data_key(&self) -> &[u8; 32] {
        &self.key
    }
}

/// One step of an `--extract` path.
#[derive(Clone, Debug, PartialEq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

fn render_path(p: &[PathSeg]) -> String {
    p.iter()
        .map(|s| match s {
            PathSeg::Key(k) => format!("[\"{k}\"]"),
            PathSeg::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// Parse sops' `--extract` syntax: `["a"]["b"][0]`.
pub fn parse_extract(s: &str) -> Result<Vec<PathSeg>, Error> {
    let bad = || {
        Error::Format(format!(
            "invalid --extract path '{s}': expected e.g. [\"a\"][\"b\"][0]"
        ))
    };
    let mut out = vec![];
    let mut rest = s.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix('[').ok_or_else(bad)?;
        if let Some(r) = rest.strip_prefix('"').or_else(|| rest.strip_prefix('\'')) {
            let q = rest.as_bytes()[0] as char;
            let end = r.find(q).ok_or_else(bad)?;
            out.push(PathSeg::Key(r[..end].to_string()));
            rest = r[end + 1..].strip_prefix(']').ok_or_else(bad)?;
        } else {
            let end = rest.find(']').ok_or_else(bad)?;
            out.push(PathSeg::Index(
                rest[..end].trim().parse().map_err(|_| bad())?,
            ));
            rest = &rest[end + 1..];
        }
    }
    Ok(out)
}

/// Decrypt a sops file's bytes.
pub fn decrypt(
    bytes: &[u8],
    format: Format,
    ids: &Identities,
    ignore_mac: bool,
) -> Result<Decrypted, Error> {
    let (mut branches, metadata) = store::load_encrypted(format, bytes)?;
    let key = core::data_key(&metadata, ids)?;
    let mut cipher = Cipher::new(&key);
    core::decrypt_tree(&mut branches, &metadata, &mut cipher, ignore_mac)?;
    Ok(Decrypted {
        format,
        branches,
        metadata,
        key,
        cipher,
    })
}

/// Decrypt a sops file; the format defaults to the one its extension says.
pub fn decrypt_file(
    path: &Path,
    format: Option<Format>,
    ids: &Identities,
) -> Result<Decrypted, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decrypt(
        &bytes,
        format.unwrap_or_else(|| Format::from_path(path)),
        ids,
        false,
    )
    .map_err(|e| e.in_file(path))
}

/// How to encrypt a new file.
#[derive(Clone, Debug, Default)]
pub struct EncryptOptions {
    /// Recipients per key group (one group is the normal case).
    pub key_groups: Vec<Vec<String>>,
    /// With several groups: how many are needed (0 = all).
    pub shamir_threshold: usize,
    pub rule: CryptRule,
    pub mac_only_encrypted: bool,
}

/// Build metadata with wrapped data key for `opts`.
fn new_metadata(opts: &EncryptOptions, key: &[u8; 32]) -> Result<Metadata, Error> {
    let groups = opts
        .key_groups
        .iter()
        .map(|g| KeyGroup {
            age: dedup(g)
                .into_iter()
                .map(|r| AgeKey {
                    recipient: r,
                    enc: String::new(),
                })
                .collect(),
            other: vec![],
        })
        .collect();
    let mut meta = Metadata::new(groups, opts.shamir_threshold, opts.rule.clone());
    meta.mac_only_encrypted = opts.mac_only_encrypted;
    core::wrap_data_key(&mut meta, key)?;
    Ok(meta)
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for r in v {
        let r = r.trim().to_string();
        if !r.is_empty() && !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Encrypt a plaintext file's bytes.
pub fn encrypt(plain: &[u8], format: Format, opts: &EncryptOptions) -> Result<Vec<u8>, Error> {
    let mut branches = store::load_plain(format, plain)?;
    let key = core::new_data_key();
    let mut meta = new_metadata(opts, &key)?;
    let mut cipher = Cipher::new(&key);
    core::encrypt_tree(&mut branches, &mut meta, &mut cipher, &core::now_rfc3339())?;
    store::emit(format, &branches, Some(&meta))
}

/// `updatekeys`: replace the key groups with `groups`, re-wrapping the
/// same data key; values, `mac` and `lastmodified` stay. `None` when the
/// file already has exactly these recipients.
pub fn updatekeys(
    bytes: &[u8],
    format: Format,
    ids: &Identities,
    groups: &[Vec<String>],
    shamir_threshold: usize,
) -> Result<Option<Vec<u8>>, Error> {
    let (branches, mut meta) = store::load_encrypted(format, bytes)?;
    let want: Vec<Vec<String>> = groups.iter().map(|g| dedup(g)).collect();
    let have: Vec<Vec<String>> = meta
        .key_groups
        .iter()
        .map(|g| g.age.iter().map(|a| a.recipient.clone()).collect())
        .collect();
    if want == have {
        return Ok(None);
    }
    let key = core::data_key(&meta, ids)?;
    let old_t = meta.shamir_threshold;
    // with one group before and after, unchanged recipients keep their
    // wrapped key (so the diff shows only the added/removed ones)
    let keep: Vec<AgeKey> = if meta.key_groups.len() == 1 && want.len() == 1 {
        meta.key_groups[0].age.clone()
    } else {
        vec![]
    };
    meta.key_groups = want
        .into_iter()
        .map(|g| KeyGroup {
            age: g
                .into_iter()
                .map(|r| AgeKey {
                    enc: keep
                        .iter()
                        .find(|k| k.recipient == r)
                        .map(|k| k.enc.clone())
                        .unwrap_or_default(),
                    recipient: r,
                })
                .collect(),
            other: vec![],
        })
        .collect();
    let t = if shamir_threshold > 0 {
        shamir_threshold
    } else {
        old_t
    };
    meta.shamir_threshold = if meta.key_groups.len() > 1 {
        if t == 0 {
            meta.key_groups.len()
        } else {
            t.min(meta.key_groups.len())
        }
    } else {
        0
    };
    core::wrap_data_key(&mut meta, &key)?;
    // the tree is still encrypted: emit it as it was read
    Ok(Some(store::emit(format, &branches, Some(&meta))?))
}

/// `rotate`: decrypt (MAC checked), add/remove recipients (adds go to
/// group 0), new data key, re-encrypt every value reusing IVs.
pub fn rotate(
    bytes: &[u8],
    format: Format,
    ids: &Identities,
    add: &[String],
    remove: &[String],
) -> Result<Vec<u8>, Error> {
    let mut d = decrypt(bytes, format, ids, false)?;
    let mut meta = d.metadata.clone();
    for g in &mut meta.key_groups {
        g.age.retain(|a| !remove.contains(&a.recipient));
    }
    if meta.key_groups.is_empty() {
        meta.key_groups.push(KeyGroup::default());
    }
    for r in dedup(add) {
        if !meta.key_groups[0].age.iter().any(|a| a.recipient == r) {
            meta.key_groups[0].age.push(AgeKey {
                recipient: r,
                enc: String::new(),
            });
        }
    }
    let key = core::new_data_key();
    for g in &mut meta.key_groups {
        for k in &mut g.age {
            k.enc.clear();
        }
    }
    core::wrap_data_key(&mut meta, &key)?;
    d.cipher.rekey(&key);
    let mut branches = d.branches.clone();
    core::encrypt_tree(
        &mut branches,
        &mut meta,
        &mut d.cipher,
        &core::now_rfc3339(),
    )?;
    store::emit(format, &branches, Some(&meta))
}
