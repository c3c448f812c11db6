//! One value's encryption: AES-256-GCM with sops' 32-byte IVs, the
//! `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` encoding, and the IV
//! stash that keeps unchanged values byte-identical across edits.

use std::collections::HashMap;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;

use crate::tree::Value;
use crate::Error;

type Gcm = AesGcm<Aes256, U32>;

/// A parsed `ENC[…]` string.
pub struct EncValue {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub typ: String,
}

/// Whether `s` looks like a sops-encrypted value.
pub fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,") && s.ends_with(']')
}

/// Parse `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
pub fn parse_enc(s: &str) -> Option<EncValue> {
    let inner = s.strip_prefix("ENC[AES256_GCM,")?.strip_suffix(']')?;
    let mut data = None;
    let mut iv = None;
    let mut tag = None;
    let mut typ = None;
    for part in inner.split(',') {
        let (k, v) = part.split_once(':')?;
        match k {
            "data" => data = Some(B64.decode(v).ok()?),
            "iv" => iv = Some(B64.decode(v).ok()?),
            "tag" => tag = Some(B64.decode(v).ok()?),
            "type" => typ = Some(v.to_string()),
            _ => return None,
        }
    }
    let iv = iv?;
    let tag = tag?;
    if iv.len() != 32 || tag.len() != 16 {
        return None;
    }
    Some(EncValue {
        data: data?,
        iv,
        tag,
        typ: typ?,
    })
}

/// Encrypts and decrypts values under one data key, remembering the IV
/// of every value it decrypted (sops' stash) so that re-encrypting the
/// same plaintext at the same path gives the same ciphertext.
pub struct Cipher {
    gcm: Gcm,
    stash: HashMap<(Vec<u8>, String), [u8; 32]>,
}

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Cipher {
            gcm: Gcm::new(key.into()),
            stash: HashMap::new(),
        }
    }

    /// Keep the stash but switch to another data key (sops `rotate`).
    pub fn rekey(&mut self, key: &[u8; 32]) {
        self.gcm = Gcm::new(key.into());
    }

    /// Encrypt a scalar (or comment) at AAD `aad`. Empty values stay
    /// empty, as in sops.
    pub fn encrypt(&mut self, v: &Value, aad: &str) -> Result<String, Error> {
        let typ = match v {
            Value::Str(_) | Value::Bytes(_) => "str",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Time(_) => "time",
            Value::Comment(_) => "comment",
            _ => {
                return Err(Error::Format(format!(
                    "cannot encrypt a non-scalar value at {aad}"
                )))
            }
        };
        let plain = v.scalar_bytes().unwrap_or_default();
        if plain.is_empty() {
            return Ok(String::new());
        }
        let iv = match self.stash.get(&(plain.clone(), aad.to_string())) {
            Some(iv) => *iv,
            None => {
                let mut iv = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut iv);
                iv
            }
        };
        let mut ct = self
            .gcm
            .encrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: &plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::Crypto("AES-GCM encryption failed".into()))?;
        let tag = ct.split_off(ct.len() - 16);
        Ok(format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
            B64.encode(&ct),
            B64.encode(iv),
            B64.encode(&tag),
            typ
        ))
    }

    /// Decrypt an `ENC[…]` string at AAD `aad` into a typed value. The
    /// error never contains plaintext: only the path and the reason.
    pub fn decrypt(&mut self, s: &str, aad: &str) -> Result<Value, Error> {
        if s.is_empty() {
            return Ok(Value::Str(String::new()));
        }
        let enc = parse_enc(s).ok_or_else(|| {
            Error::Format(format!(
                "value at '{aad}' is not a sops-encrypted value (ENC[AES256_GCM,…])"
            ))
        })?;
        let mut msg = enc.data.clone();
        msg.extend_from_slice(&enc.tag);
        let plain = self
            .gcm
            .decrypt(
                Nonce::<U32>::from_slice(&enc.iv),
                Payload {
                    msg: &msg,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::Crypto(format!(
                    "cannot decrypt the value at '{aad}': wrong data key, or the value was moved or tampered with"
                ))
            })?;
        let mut iv = [0u8; 32];
        iv.copy_from_slice(&enc.iv);
        self.stash.insert((plain.clone(), aad.to_string()), iv);
        let text = || {
            String::from_utf8(plain.clone()).map_err(|_| {
                Error::Format(format!("value at '{aad}' of type {} is not UTF-8", enc.typ))
            })
        };
        let bad = |what: &str| {
            Error::Format(format!(
                "value at '{aad}' does not parse as its declared type {what}"
            ))
        };
        Ok(match enc.typ.as_str() {
            "str" => match String::from_utf8(plain.clone()) {
                Ok(s) => Value::Str(s),
                Err(_) => Value::Bytes(plain),
            },
            "bytes" => Value::Bytes(plain),
            "int" => Value::Int(text()?.parse().map_err(|_| bad("int"))?),
            "float" => Value::Float(parse_go_float(&text()?).ok_or_else(|| bad("float"))?),
            "bool" => Value::Bool(parse_go_bool(&text()?).ok_or_else(|| bad("bool"))?),
            "time" => Value::Time(text()?),
            "comment" => Value::Comment(text()?),
            other => {
                return Err(Error::Format(format!(
                    "value at '{aad}' has unknown type '{other}'"
                )))
            }
        })
    }
}

/// `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `strconv.ParseFloat` for the forms sops writes (plus Go's infinities).
pub fn parse_go_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_aad_binding() {
        let key = [7u8; 32];
        let mut c = Cipher::new(&key);
        let e = c.encrypt(&Value::Int(-12), "a:b:").unwrap();
        assert!(e.ends_with(",type:int]"), "{e}");
        assert_eq!(c.decrypt(&e, "a:b:").unwrap(), Value::Int(-12));
        assert!(c.decrypt(&e, "a:c:").is_err());
        // the stash reuses the IV: same plaintext, same path, same output
        assert_eq!(c.encrypt(&Value::Int(-12), "a:b:").unwrap(), e);
        assert_eq!(c.encrypt(&Value::Str(String::new()), "x:").unwrap(), "");
        let b = c.encrypt(&Value::Bool(true), "x:").unwrap();
        assert_eq!(c.decrypt(&b, "x:").unwrap(), Value::Bool(true));
    }
}
