//! Encrypting and decrypting whole trees: the walk (sops' `walkBranch`
//! order and comment stack), the MAC, and the data key with its key
//! groups and Shamir parts.

use rand::RngCore;
use sha2::{Digest, Sha256, Sha512};

use crate::cipher::{is_encrypted, Cipher};
use crate::keys::{age_decrypt, age_encrypt, Identities};
use crate::metadata::{CryptRule, Metadata};
use crate::shamir;
use crate::tree::{Item, Value};
use crate::Error;

type Leaf<'a> = dyn FnMut(&mut Value, &[String], bool) -> Result<(), Error> + 'a;

fn walk_value(
    v: &mut Value,
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<String>>,
    rule: &CryptRule,
    f: &mut Leaf<'_>,
) -> Result<(), Error> {
    match v {
        Value::Map(items) => walk_map(items, path, stack, rule, f),
        Value::List(l) => {
            for x in l {
                walk_value(x, path, stack, rule, f)?;
            }
            Ok(())
        }
        Value::Null => Ok(()),
        leaf => {
            let enc = rule.should_encrypt(path, stack);
            f(leaf, path, enc)
        }
    }
}

fn walk_map(
    items: &mut [Item],
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<String>>,
    rule: &CryptRule,
    f: &mut Leaf<'_>,
) -> Result<(), Error> {
    stack.push(vec![]);
    for it in items.iter_mut() {
        match it {
            Item::Comment(c) => {
                let enc = rule.should_encrypt(path, stack) && !rule.comment_is_marker(c);
                let mut v = Value::Comment(std::mem::take(c));
                f(&mut v, path, enc)?;
                let Value::Comment(text) = v else {
                    unreachable!("comments stay comments")
                };
                // the stack holds plaintext comment text
                let plain = if is_encrypted(&text) {
                    String::new()
                } else {
                    text.clone()
                };
                if let Some(top) = stack.last_mut() {
                    top.push(plain);
                }
                *c = text;
            }
            Item::Pair(k, v) => {
                path.push(k.clone());
                walk_value(v, path, stack, rule, f)?;
                path.pop();
                if let Some(top) = stack.last_mut() {
                    top.clear();
                }
            }
        }
    }
    stack.pop();
    Ok(())
}

fn walk(branches: &mut [Value], rule: &CryptRule, f: &mut Leaf<'_>) -> Result<(), Error> {
    for b in branches {
        let mut path = vec![];
        let mut stack = vec![];
        walk_value(b, &mut path, &mut stack, rule, f)?;
    }
    Ok(())
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

fn new_hasher(meta: &Metadata) -> Sha512 {
    let mut h = Sha512::new();
    if meta.mac_only_encrypted {
        h.update(Sha256::digest(b"sops"));
    }
    h
}

/// Encrypt every plaintext leaf in place and set `lastmodified` and
/// `mac` in `meta`.
pub fn encrypt_tree(
    branches: &mut [Value],
    meta: &mut Metadata,
    cipher: &mut Cipher,
    now: &str,
) -> Result<(), Error> {
    let mut h = new_hasher(meta);
    let mac_only = meta.mac_only_encrypted;
    walk(branches, &meta.rule, &mut |v, path, enc| {
        if !matches!(v, Value::Comment(_)) && (!mac_only || enc) {
            h.update(v.scalar_bytes().unwrap_or_default());
        }
        if enc {
            let a = aad(path);
            let s = cipher.encrypt(v, &a)?;
            *v = match v {
                Value::Comment(_) => Value::Comment(s),
                _ => Value::Str(s),
            };
        }
        Ok(())
    })?;
    meta.lastmodified = now.to_string();
    let mac = hex::encode_upper(h.finalize());
    meta.mac = cipher.encrypt(&Value::Str(mac), &mac_aad(now))?;
    Ok(())
}

/// sops re-formats `lastmodified` with Go's RFC 3339 layout (whole
/// seconds) before using it as the MAC's AAD.
fn mac_aad(lastmodified: &str) -> String {
    match lastmodified.find('.') {
        Some(dot) => {
            let rest = &lastmodified[dot + 1..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}{}", &lastmodified[..dot], &rest[end..])
        }
        None => lastmodified.to_string(),
    }
}

/// Decrypt every encrypted leaf in place and verify the MAC (unless
/// `ignore_mac`). Errors name paths, never values.
pub fn decrypt_tree(
    branches: &mut [Value],
    meta: &Metadata,
    cipher: &mut Cipher,
    ignore_mac: bool,
) -> Result<(), Error> {
    let mut h = new_hasher(meta);
    let mac_only = meta.mac_only_encrypted;
    walk(branches, &meta.rule, &mut |v, path, enc| {
        let a = aad(path);
        if enc {
            match v {
                Value::Comment(c) => {
                    if is_encrypted(c) {
                        // a comment that does not decrypt stays as it is
                        if let Ok(Value::Comment(p)) = cipher.decrypt(c, &a) {
                            *c = p;
                        }
                    }
                    return Ok(());
                }
                Value::Str(s) => {
                    *v = cipher.decrypt(s, &a)?;
                }
                _ => {
                    return Err(Error::Format(format!(
                        "value at '{a}' should be encrypted but is not a string (was it added by hand?)"
                    )))
                }
            }
        }
        if !matches!(v, Value::Comment(_)) && (!mac_only || enc) {
            h.update(v.scalar_bytes().unwrap_or_default());
        }
        Ok(())
    })?;
    if ignore_mac {
        return Ok(());
    }
    let computed = hex::encode_upper(h.finalize());
    let stored = match cipher.decrypt(&meta.mac, &mac_aad(&meta.lastmodified)) {
        Ok(Value::Str(s)) => s,
        _ => {
            return Err(Error::MacMismatch(
                "the stored MAC does not decrypt (lastmodified or mac was changed)".into(),
            ))
        }
    };
    if stored != computed {
        return Err(Error::MacMismatch(
            "the values do not match the stored MAC: the file was modified outside sops".into(),
        ));
    }
    Ok(())
}

/// Recover the data key with `ids`.
pub fn data_key(meta: &Metadata, ids: &Identities) -> Result<[u8; 32], Error> {
    let groups = &meta.key_groups;
    let mut parts = vec![];
    let mut failures = vec![];
    for (gi, g) in groups.iter().enumerate() {
        let mut got = None;
        for k in &g.age {
            match age_decrypt(k.enc.as_bytes(), ids) {
                Ok(p) => {
                    got = Some(p);
                    break;
                }
                Err(e) => failures.push(format!("group {gi}, {}: {e}", k.recipient)),
            }
        }
        if g.age.is_empty() {
            failures.push(format!(
                "group {gi}: no age keys (other key types are not supported by ox)"
            ));
        }
        if let Some(p) = got {
            parts.push(p);
        }
    }
    let need = if groups.len() <= 1 {
        1
    } else if meta.shamir_threshold == 0 {
        groups.len()
    } else {
        meta.shamir_threshold
    };
    if parts.len() < need {
        return Err(Error::NoKey(format!(
            "could not recover the data key: {} of {} needed key groups opened ({})",
            parts.len(),
            need,
            failures.join("; ")
        )));
    }
    let key = if groups.len() <= 1 {
        parts.remove(0)
    } else {
        shamir::combine(&parts[..need]).map_err(Error::Crypto)?
    };
    key.try_into()
        .map_err(|_| Error::Crypto("the data key is not 32 bytes".into()))
}

/// A fresh random data key.
pub fn new_data_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut k);
    k
}

/// Wrap `key` for every age key of every group (Shamir parts when there
/// are several groups). With one group, keys whose `enc` is already set
/// are kept (the caller guarantees it wraps `key`). Non-age keys cannot
/// be re-wrapped by ox.
pub fn wrap_data_key(meta: &mut Metadata, key: &[u8; 32]) -> Result<(), Error> {
    let n = meta.key_groups.len();
    if n == 0 || meta.key_groups.iter().all(|g| g.age.is_empty()) {
        return Err(Error::Key("no age recipients to encrypt to".into()));
    }
    let parts = if n > 1 {
        let t = if meta.shamir_threshold == 0 {
            n
        } else {
            meta.shamir_threshold
        };
        meta.shamir_threshold = t;
        shamir::split(key, n, t).map_err(Error::Key)?
    } else {
        vec![key.to_vec()]
    };
    for (g, part) in meta.key_groups.iter_mut().zip(parts) {
        if !g.other.is_empty() {
            return Err(Error::Key(
                "the file has pgp/kms/vault keys, which ox cannot re-wrap".into(),
            ));
        }
        for k in &mut g.age {
            // a key that already wraps this very key/part keeps its block
            // (only `updatekeys` of a single group passes such keys)
            if !k.enc.is_empty() && n == 1 {
                continue;
            }
            let enc = age_encrypt(&part, std::slice::from_ref(&k.recipient), true)?;
            let mut enc = String::from_utf8(enc).expect("armor is ASCII");
            // sops' blocks end with exactly one newline
            if !enc.ends_with('\n') {
                enc.push('\n');
            }
            k.enc = enc;
        }
    }
    Ok(())
}

/// Now, UTC, RFC 3339 without fractional seconds (`lastmodified`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_unix(secs)
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn format_unix(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(1_764_000_000), "2025-11-24T16:00:00Z");
        assert_eq!(mac_aad("2024-01-02T03:04:05.123Z"), "2024-01-02T03:04:05Z");
    }
}
