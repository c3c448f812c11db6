//! age recipients and identities: X25519 (`age1…`), `ssh-ed25519` and
//! `ssh-rsa` keys (through the `age` crate), the ssh-ed25519 → X25519
//! conversion that `ssh-to-age` does, and wrapping the data key into an
//! armored one-recipient age file as sops stores it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::ExposeSecret;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bech32::{FromBase32, ToBase32, Variant};
use sha2::{Digest, Sha512};

use crate::Error;

/// Parse one recipient: `age1…`, `ssh-ed25519 AAAA…` or `ssh-rsa AAAA…`.
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send>, Error> {
    let s = s.trim();
    if s.starts_with("age1") {
        return age::x25519::Recipient::from_str(s)
            .map(|r| Box::new(r) as _)
            .map_err(|e| Error::Key(format!("invalid age recipient '{s}': {e}")));
    }
    if s.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(s)
            .map(|r| Box::new(r) as _)
            .map_err(|e| Error::Key(format!("invalid ssh recipient '{s}': {e:?}")));
    }
    Err(Error::Key(format!(
        "unsupported recipient '{s}': expected age1…, ssh-ed25519 … or ssh-rsa …"
    )))
}

/// The identities tried when unwrapping a data key or an age file.
#[derive(Default)]
pub struct Identities {
    ids: Vec<Box<dyn age::Identity>>,
    /// Where each identity came from, for error messages.
    pub sources: Vec<String>,
}

impl Identities {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Add `AGE-SECRET-KEY-1…` keys from text: one per line, `#` comments
    /// and blank lines ignored (the keys.txt format).
    pub fn add_age_keys(&mut self, text: &str, source: &str) -> Result<usize, Error> {
        let mut n = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for word in line.split_whitespace() {
                let id = age::x25519::Identity::from_str(word).map_err(|_| {
                    Error::Key(format!(
                        "{source}:{}: not an age secret key (AGE-SECRET-KEY-1…)",
                        i + 1
                    ))
                })?;
                self.ids.push(Box::new(id));
                self.sources.push(source.to_string());
                n += 1;
            }
        }
        Ok(n)
    }

    /// Add the keys of an age key file.
    pub fn add_age_key_file(&mut self, path: &Path) -> Result<usize, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        self.add_age_keys(&text, &path.display().to_string())
    }

    /// Add an OpenSSH private key (ed25519 or rsa) as an identity. For
    /// ed25519 keys the X25519 key `ssh-to-age` derives is added too, so
    /// files encrypted to the converted `age1…` recipient open as well
    /// (the sops-nix host-key flow).
    pub fn add_ssh_key_file(&mut self, path: &Path) -> Result<(), Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let id = age::ssh::Identity::from_buffer(&bytes[..], Some(path.display().to_string()))
            .map_err(|e| {
                Error::Key(format!(
                    "{}: not an OpenSSH private key: {e}",
                    path.display()
                ))
            })?;
        match &id {
            age::ssh::Identity::Unencrypted(_) => {}
            age::ssh::Identity::Encrypted(_) => {
                return Err(Error::Key(format!(
                    "{}: passphrase-protected ssh keys are not supported",
                    path.display()
                )))
            }
            age::ssh::Identity::Unsupported(_) => {
                return Err(Error::Key(format!(
                    "{}: unsupported ssh key type (use ed25519 or rsa)",
                    path.display()
                )))
            }
        }
        self.ids.push(Box::new(id));
        self.sources.push(path.display().to_string());
        if let Ok(sk) = ssh_private_to_age(&bytes) {
            let xid = age::x25519::Identity::from_str(&sk).map_err(|e| {
                Error::Key(format!("{}: converted key invalid: {e}", path.display()))
            })?;
            self.ids.push(Box::new(xid));
            self.sources
                .push(format!("{} (as age key)", path.display()));
        }
        Ok(())
    }

    /// The identities sops itself would find: `SOPS_AGE_SSH_PRIVATE_KEY_FILE`,
    /// `~/.ssh/id_ed25519`, `~/.ssh/id_rsa`, `SOPS_AGE_KEY`,
    /// `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD` (its output),
    /// `$XDG_CONFIG_HOME/sops/age/keys.txt`.
    pub fn from_env() -> Result<Self, Error> {
        let mut ids = Identities::new();
        if let Some(p) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            ids.add_ssh_key_file(Path::new(&p))?;
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        if let Some(h) = &home {
            for k in ["id_ed25519", "id_rsa"] {
                let p = h.join(".ssh").join(k);
                if p.is_file() {
                    // A key we cannot use (passphrase) is not fatal here.
                    let _ = ids.add_ssh_key_file(&p);
                }
            }
        }
        if let Ok(k) = std::env::var("SOPS_AGE_KEY") {
            ids.add_age_keys(&k, "SOPS_AGE_KEY")?;
        }
        if let Some(p) = std::env::var_os("SOPS_AGE_KEY_FILE") {
            ids.add_age_key_file(Path::new(&p))?;
        }
        if let Ok(cmd) = std::env::var("SOPS_AGE_KEY_CMD") {
            // e.g. a password manager; its stdout holds the keys
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| Error::Key(format!("SOPS_AGE_KEY_CMD: cannot run: {e}")))?;
            if !out.status.success() {
                return Err(Error::Key(format!(
                    "SOPS_AGE_KEY_CMD failed ({})",
                    out.status
                )));
            }
            let text = String::from_utf8(out.stdout)
                .map_err(|_| Error::Key("SOPS_AGE_KEY_CMD printed non-UTF-8".into()))?;
            ids.add_age_keys(&text, "SOPS_AGE_KEY_CMD")?;
        }
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".config")));
        if let Some(x) = xdg {
            let p = x.join("sops/age/keys.txt");
            if p.is_file() {
                ids.add_age_key_file(&p)?;
            }
        }
        Ok(ids)
    }

    fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.ids.iter().map(|b| b.as_ref() as &dyn age::Identity)
    }
}

/// Encrypt `data` to `recipients` as an age file, ASCII-armored or binary.
pub fn age_encrypt(data: &[u8], recipients: &[String], armor: bool) -> Result<Vec<u8>, Error> {
    let rs = recipients
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    let enc = age::Encryptor::with_recipients(rs.iter().map(|r| r.as_ref() as &dyn age::Recipient))
        .map_err(|e| Error::Crypto(format!("age: {e}")))?;
    let mut out = Vec::new();
    let fmt = if armor {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let io = |e: std::io::Error| Error::Crypto(format!("age: {e}"));
    let aw = ArmoredWriter::wrap_output(&mut out, fmt).map_err(io)?;
    let mut w = enc.wrap_output(aw).map_err(io)?;
    w.write_all(data).map_err(io)?;
    w.finish().and_then(|aw| aw.finish()).map_err(io)?;
    Ok(out)
}

/// Decrypt an age file (armored or binary) with any of `ids`.
pub fn age_decrypt(data: &[u8], ids: &Identities) -> Result<Vec<u8>, Error> {
    let dec = age::Decryptor::new(ArmoredReader::new(data))
        .map_err(|e| Error::Crypto(format!("not a valid age file: {e}")))?;
    if dec.is_scrypt() {
        return Err(Error::Key(
            "passphrase-encrypted age files are not supported".into(),
        ));
    }
    let mut r = dec.decrypt(ids.iter()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => Error::NoKey(format!(
            "none of the {} identities ({}) matches a recipient of the age file",
            ids.ids.len(),
            ids.sources.join(", ")
        )),
        e => Error::Crypto(format!("age: {e}")),
    })?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| Error::Crypto(format!("age payload: {e}")))?;
    Ok(out)
}

/// Generate a new X25519 key: `(AGE-SECRET-KEY-1…, age1…)`.
pub fn keygen() -> (String, String) {
    let id = age::x25519::Identity::generate();
    (
        id.to_string().expose_secret().to_string(),
        id.to_public().to_string(),
    )
}

/// The `age1…` recipient of an `AGE-SECRET-KEY-1…`.
pub fn age_public(secret: &str) -> Result<String, Error> {
    age::x25519::Identity::from_str(secret.trim())
        .map(|i| i.to_public().to_string())
        .map_err(|_| Error::Key("not an age secret key (AGE-SECRET-KEY-1…)".into()))
}

fn ssh_string(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    if buf.len() < 4 {
        return None;
    }
    let n = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let rest = &buf[4..];
    if rest.len() < n {
        return None;
    }
    Some((&rest[..n], &rest[n..]))
}

/// Convert an `ssh-ed25519 AAAA… [comment]` public key to its `age1…`
/// X25519 recipient (the Montgomery form of the Edwards point), as
/// `ssh-to-age` does.
pub fn ssh_to_age(line: &str) -> Result<String, Error> {
    let mut words = line.split_whitespace();
    let (typ, b64) = (words.next(), words.next());
    let bad = || Error::Key("expected an 'ssh-ed25519 AAAA…' public key".into());
    if typ != Some("ssh-ed25519") {
        return Err(bad());
    }
    let wire = B64.decode(b64.ok_or_else(bad)?).map_err(|_| bad())?;
    let (t, rest) = ssh_string(&wire).ok_or_else(bad)?;
    let (pk, _) = ssh_string(rest).ok_or_else(bad)?;
    if t != b"ssh-ed25519" || pk.len() != 32 {
        return Err(bad());
    }
    let mut a = [0u8; 32];
    a.copy_from_slice(pk);
    let point = curve25519_dalek::edwards::CompressedEdwardsY(a)
        .decompress()
        .ok_or_else(|| Error::Key("ssh-ed25519 key is not a valid curve point".into()))?;
    let mont = point.to_montgomery().to_bytes();
    bech32::encode("age", mont.to_base32(), Variant::Bech32)
        .map_err(|e| Error::Key(format!("bech32: {e}")))
}

/// Convert an unencrypted OpenSSH ed25519 private key file to the
/// `AGE-SECRET-KEY-1…` whose recipient is [`ssh_to_age`] of its public
/// key: the X25519 scalar is the first half of SHA-512(seed).
pub fn ssh_private_to_age(pem: &[u8]) -> Result<String, Error> {
    let bad = |m: &str| Error::Key(format!("ssh private key: {m}"));
    let text = std::str::from_utf8(pem).map_err(|_| bad("not text"))?;
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let blob = B64.decode(body.trim()).map_err(|_| bad("bad base64"))?;
    let rest = blob
        .strip_prefix(b"openssh-key-v1\0")
        .ok_or_else(|| bad("not openssh-key-v1"))?;
    let (cipher, rest) = ssh_string(rest).ok_or_else(|| bad("truncated"))?;
    if cipher != b"none" {
        return Err(bad("passphrase-protected keys are not supported"));
    }
    let (_kdf, rest) = ssh_string(rest).ok_or_else(|| bad("truncated"))?;
    let (_kdfopts, rest) = ssh_string(rest).ok_or_else(|| bad("truncated"))?;
    if rest.len() < 4 {
        return Err(bad("truncated"));
    }
    let rest = &rest[4..]; // number of keys
    let (_pubkey, rest) = ssh_string(rest).ok_or_else(|| bad("truncated"))?;
    let (private, _) = ssh_string(rest).ok_or_else(|| bad("truncated"))?;
    if private.len() < 8 {
        return Err(bad("truncated"));
    }
    let p = &private[8..]; // two check ints
    let (typ, p) = ssh_string(p).ok_or_else(|| bad("truncated"))?;
    if typ != b"ssh-ed25519" {
        return Err(bad("not an ed25519 key"));
    }
    let (_pk, p) = ssh_string(p).ok_or_else(|| bad("truncated"))?;
    let (sk, _) = ssh_string(p).ok_or_else(|| bad("truncated"))?;
    if sk.len() != 64 {
        return Err(bad("bad ed25519 private key length"));
    }
    let h = Sha512::digest(&sk[..32]);
    let enc = bech32::encode("age-secret-key-", (&h[..32]).to_base32(), Variant::Bech32)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(enc.to_uppercase())
}

/// Decode an `age1…` recipient to its 32 raw bytes (for tests/tools).
pub fn age_recipient_bytes(r: &str) -> Result<Vec<u8>, Error> {
    let (hrp, data, _) =
        bech32::decode(r).map_err(|e| Error::Key(format!("bad age recipient: {e}")))?;
    if hrp != "age" {
        return Err(Error::Key("bad age recipient prefix".into()));
    }
    Vec::<u8>::from_base32(&data).map_err(|e| Error::Key(format!("bad age recipient: {e}")))
}
