//! Hash algorithms and the textual hash encodings Nix accepts and prints:
//! base-16, Nix base-32, base-64 and SRI, with or without an `algo:`
//! prefix.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use sha2::Digest as _;

/// A hash algorithm Nix supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgo {
    /// All algorithms, in Nix's order.
    pub const ALL: [HashAlgo; 4] = [
        HashAlgo::Md5,
        HashAlgo::Sha1,
        HashAlgo::Sha256,
        HashAlgo::Sha512,
    ];

    /// Parses `md5`, `sha1`, `sha256` or `sha512` (exact, lower case, as Nix).
    pub fn parse(s: &str) -> Result<HashAlgo, HashError> {
        Self::parse_opt(s).ok_or_else(|| HashError::UnknownAlgo(s.to_owned()))
    }

    /// Like [`HashAlgo::parse`] but `None` for unknown names, which is
    /// what `derivationStrict` uses for `outputHashAlgo`.
    pub fn parse_opt(s: &str) -> Option<HashAlgo> {
        match s {
            "md5" => Some(HashAlgo::Md5),
            "sha1" => Some(HashAlgo::Sha1),
            "sha256" => Some(HashAlgo::Sha256),
            "sha512" => Some(HashAlgo::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "md5",
            HashAlgo::Sha1 => "sha1",
            HashAlgo::Sha256 => "sha256",
            HashAlgo::Sha512 => "sha512",
        }
    }

    /// Digest size in bytes.
    pub fn size(self) -> usize {
        match self {
            HashAlgo::Md5 => 16,
            HashAlgo::Sha1 => 20,
            HashAlgo::Sha256 => 32,
            HashAlgo::Sha512 => 64,
        }
    }

    /// Length of the base-16 form.
    pub fn base16_len(self) -> usize {
        self.size() * 2
    }

    /// Length of the Nix base-32 form.
    pub fn base32_len(self) -> usize {
        base32_len(self.size())
    }

    /// Length of the (padded) base-64 form.
    pub fn base64_len(self) -> usize {
        self.size().div_ceil(3) * 4
    }
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgo {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HashAlgo::parse(s)
    }
}

/// The textual encodings of a hash (`builtins.convertHash`'s `toHashFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashFormat {
    Base16,
    /// Nix's own base-32 ("nix32").
    Base32,
    Base64,
    /// `algo-<base64>`.
    Sri,
}

impl HashFormat {
    /// Parses the names `builtins.convertHash` accepts: `base16`,
    /// `nix32` (and its older name `base32`), `base64`, `sri`.
    pub fn parse(s: &str) -> Result<HashFormat, HashError> {
        match s {
            "base16" => Ok(HashFormat::Base16),
            "nix32" | "base32" => Ok(HashFormat::Base32),
            "base64" => Ok(HashFormat::Base64),
            "sri" => Ok(HashFormat::Sri),
            _ => Err(HashError::UnknownFormat(s.to_owned())),
        }
    }
}

/// Errors from parsing hashes and algorithm names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("unknown hash algorithm '{0}', expected one of 'md5', 'sha1', 'sha256', 'sha512'")]
    UnknownAlgo(String),
    #[error(
        "unknown hash format '{0}', expected one of 'base16', 'nix32', 'base32', 'base64', 'sri'"
    )]
    UnknownFormat(String),
    #[error("hash '{0}' does not include a type, nor is the type otherwise known from context")]
    MissingAlgo(String),
    #[error("hash '{hash}' should have type '{expected}'")]
    AlgoMismatch { hash: String, expected: HashAlgo },
    #[error(
        "hash '{hash}' has wrong length for hash type '{algo}' (expected {} base-16, {} base-32 or {} base-64 characters)",
        algo.base16_len(), algo.base32_len(), algo.base64_len()
    )]
    WrongLength { hash: String, algo: HashAlgo },
    #[error("invalid base-16 hash '{0}': expected only the characters 0-9, a-f")]
    InvalidBase16(String),
    #[error("invalid base-32 hash '{0}': expected only characters from '0123456789abcdfghijklmnpqrsvwxyz' encoding exactly the digest")]
    InvalidBase32(String),
    #[error("invalid base-64 hash '{0}': expected base-64 text decoding to exactly {1} bytes")]
    InvalidBase64(String, usize),
    #[error("invalid SRI hash '{0}': expected '<algo>-<base64>' decoding to exactly {1} bytes")]
    InvalidSri(String, usize),
    #[error("hash has {got} bytes but a {algo} digest has {}", algo.size())]
    WrongSize { algo: HashAlgo, got: usize },
    #[error("empty hash requires explicit hash type")]
    EmptyWithoutAlgo,
}

/// A digest together with the algorithm that produced it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash {
    algo: HashAlgo,
    bytes: Vec<u8>,
}

impl Hash {
    /// Wraps raw digest bytes; the length must match the algorithm.
    pub fn from_bytes(algo: HashAlgo, bytes: &[u8]) -> Result<Hash, HashError> {
        if bytes.len() != algo.size() {
            return Err(HashError::WrongSize {
                algo,
                got: bytes.len(),
            });
        }
        Ok(Hash {
            algo,
            bytes: bytes.to_vec(),
        })
    }

    /// The all-zero hash (what Nix substitutes for an empty `outputHash`).
    pub fn zero(algo: HashAlgo) -> Hash {
        Hash {
            algo,
            bytes: vec![0; algo.size()],
        }
    }

    /// Hashes `data` in one go (`builtins.hashString`).
    pub fn digest(algo: HashAlgo, data: &[u8]) -> Hash {
        let mut h = Hasher::new(algo);
        h.update(data);
        h.finish()
    }

    /// Hashes a file's contents, streaming (`builtins.hashFile`).
    pub fn of_file(algo: HashAlgo, path: &Path) -> io::Result<Hash> {
        let mut f = File::open(path)?;
        let mut h = Hasher::new(algo);
        io::copy(&mut f, &mut h)?;
        Ok(h.finish())
    }

    pub fn algo(&self) -> HashAlgo {
        self.algo
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn to_base16(&self) -> String {
        hex::encode(&self.bytes)
    }

    pub fn to_base32(&self) -> String {
        encode_base32(&self.bytes)
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    /// `sha256-<base64>`.
    pub fn to_sri(&self) -> String {
        format!("{}-{}", self.algo, self.to_base64())
    }

    /// Renders in `format`; `with_algo` adds the `algo:` prefix for the
    /// non-SRI formats (SRI always carries its algorithm).
    pub fn to_string_as(&self, format: HashFormat, with_algo: bool) -> String {
        let body = match format {
            HashFormat::Base16 => self.to_base16(),
            HashFormat::Base32 => self.to_base32(),
            HashFormat::Base64 => self.to_base64(),
            HashFormat::Sri => return self.to_sri(),
        };
        if with_algo {
            format!("{}:{}", self.algo, body)
        } else {
            body
        }
    }

    /// Parses a hash the way Nix's `Hash::parseAny` does (and so
    /// `builtins.convertHash`, `outputHash`, `builtins.path { sha256 }`):
    ///
    /// * `algo:<body>` where body is base-16, Nix base-32 or base-64,
    ///   told apart by length;
    /// * `algo-<base64>` (SRI);
    /// * a bare body, if `algo` is given.
    ///
    /// If both the string and `algo` name an algorithm they must agree.
    pub fn parse(s: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        let (prefix, rest, is_sri) = if let Some((p, r)) = s.split_once(':') {
            (Some(p), r, false)
        } else if let Some((p, r)) = s.split_once('-') {
            (Some(p), r, true)
        } else {
            (None, s, false)
        };
        let parsed = prefix.map(HashAlgo::parse).transpose()?;
        let algo = match (parsed, algo) {
            (None, None) => return Err(HashError::MissingAlgo(rest.to_owned())),
            (Some(p), Some(want)) if p != want => {
                return Err(HashError::AlgoMismatch {
                    hash: s.to_owned(),
                    expected: want,
                })
            }
            (Some(p), _) => p,
            (None, Some(a)) => a,
        };
        Self::parse_body(rest, algo, is_sri)
    }

    /// Like [`Hash::parse`], but an empty string yields the all-zero hash
    /// (Nix's `newHashAllowEmpty`, used for `outputHash = ""`).
    pub fn parse_allow_empty(s: &str, algo: Option<HashAlgo>) -> Result<Hash, HashError> {
        if s.is_empty() {
            return algo.map(Hash::zero).ok_or(HashError::EmptyWithoutAlgo);
        }
        Self::parse(s, algo)
    }

    /// Parses a hash body (no prefix) of known algorithm; the encoding is
    /// chosen by length, except that SRI bodies are always base-64.
    fn parse_body(rest: &str, algo: HashAlgo, is_sri: bool) -> Result<Hash, HashError> {
        let bytes = if !is_sri && rest.len() == algo.base16_len() {
            decode_base16(rest).ok_or_else(|| HashError::InvalidBase16(rest.to_owned()))?
        } else if !is_sri && rest.len() == algo.base32_len() {
            decode_base32(rest, algo.size())
                .ok_or_else(|| HashError::InvalidBase32(rest.to_owned()))?
        } else if is_sri || rest.len() == algo.base64_len() {
            match decode_base64(rest) {
                Some(b) if b.len() == algo.size() => b,
                _ if is_sri => return Err(HashError::InvalidSri(rest.to_owned(), algo.size())),
                _ => return Err(HashError::InvalidBase64(rest.to_owned(), algo.size())),
            }
        } else {
            return Err(HashError::WrongLength {
                hash: rest.to_owned(),
                algo,
            });
        };
        Ok(Hash { algo, bytes })
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_sri())
    }
}

/// Displays as `algo:<base32>`, Nix's default rendering.
impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.to_base32())
    }
}

/// `builtins.convertHash { hash; hashAlgo ? null; toHashFormat; }`:
/// parses `hash` as [`Hash::parse`] does (with `hash_algo` named by
/// string, if given) and prints it without an algorithm prefix, except
/// that SRI always carries one.
pub fn convert_hash(
    hash: &str,
    hash_algo: Option<&str>,
    to_format: &str,
) -> Result<String, HashError> {
    let format = HashFormat::parse(to_format)?;
    let algo = hash_algo.map(HashAlgo::parse).transpose()?;
    Ok(Hash::parse(hash, algo)?.to_string_as(format, false))
}

/// Incremental hashing; also a [`Write`] sink so NARs and files can be
/// streamed into it.
#[derive(Clone)]
pub struct Hasher {
    inner: HasherInner,
    written: u64,
}

#[derive(Clone)]
enum HasherInner {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algo: HashAlgo) -> Hasher {
        let inner = match algo {
            HashAlgo::Md5 => HasherInner::Md5(md5::Md5::new()),
            HashAlgo::Sha1 => HasherInner::Sha1(sha1::Sha1::new()),
            HashAlgo::Sha256 => HasherInner::Sha256(sha2::Sha256::new()),
            HashAlgo::Sha512 => HasherInner::Sha512(sha2::Sha512::new()),
        };
        Hasher { inner, written: 0 }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.written += data.len() as u64;
        match &mut self.inner {
            HasherInner::Md5(h) => h.update(data),
            HasherInner::Sha1(h) => h.update(data),
            HasherInner::Sha256(h) => h.update(data),
            HasherInner::Sha512(h) => h.update(data),
        }
    }

    /// Number of bytes hashed so far (the NAR size, when hashing a NAR).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    pub fn finish(self) -> Hash {
        let (algo, bytes) = match self.inner {
            HasherInner::Md5(h) => (HashAlgo::Md5, h.finalize().to_vec()),
            HasherInner::Sha1(h) => (HashAlgo::Sha1, h.finalize().to_vec()),
            HasherInner::Sha256(h) => (HashAlgo::Sha256, h.finalize().to_vec()),
            HasherInner::Sha512(h) => (HashAlgo::Sha512, h.finalize().to_vec()),
        };
        Hash { algo, bytes }
    }
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes everything read from `r`.
pub fn hash_reader(algo: HashAlgo, r: &mut impl Read) -> io::Result<Hash> {
    let mut h = Hasher::new(algo);
    io::copy(r, &mut h)?;
    Ok(h.finish())
}

/// Nix's base-32 alphabet: digits and lower-case letters without e, o, u, t
/// (to avoid accidental words).
pub const BASE32_CHARS: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Length of the Nix base-32 encoding of `size` bytes.
pub fn base32_len(size: usize) -> usize {
    if size == 0 {
        0
    } else {
        (size * 8 - 1) / 5 + 1
    }
}

/// Nix base-32. Unlike RFC 4648 it reads the bytes as one little-endian
/// number and prints 5-bit digits from the most significant end, so the
/// first character covers the *last* bits of the digest.
pub fn encode_base32(bytes: &[u8]) -> String {
    let len = base32_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        let lo = bytes[i] >> j;
        // Widened first: for j == 0 the shift is 8, which drops every bit.
        let hi = bytes
            .get(i + 1)
            .map_or(0, |&x| ((x as u32) << (8 - j)) as u8);
        out.push(BASE32_CHARS[((lo | hi) & 0x1f) as usize] as char);
    }
    out
}

/// Decodes Nix base-32 into exactly `size` bytes; `None` on a bad
/// character, wrong length, or bits that overflow the digest.
pub fn decode_base32(s: &str, size: usize) -> Option<Vec<u8>> {
    if s.len() != base32_len(size) {
        return None;
    }
    let mut out = vec![0u8; size];
    for (n, c) in s.bytes().rev().enumerate() {
        let digit = BASE32_CHARS.iter().position(|&x| x == c)? as u16;
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        out[i] |= (digit << j) as u8;
        let carry = (digit << j) >> 8;
        if i + 1 < size {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return None;
        }
    }
    Some(out)
}

/// Base-16, accepting upper or lower case as Nix does.
pub fn decode_base16(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

/// Base-64 decoding that, like Nix, tolerates missing padding.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        general_purpose::GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(s).ok()
}

/// XOR-folds a digest into `size` bytes (Nix's `compressHash`), used to
/// shorten sha256 to the 160-bit store path hash.
pub fn compress_hash(bytes: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    if size == 0 {
        return out;
    }
    for (i, b) in bytes.iter().enumerate() {
        out[i % size] ^= b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // Well-known test vectors for "abc".
        let h = Hash::digest(HashAlgo::Md5, b"abc");
        assert_eq!(h.to_base16(), "900150983cd24fb0d6963f7d28e17f72");
        let h = Hash::digest(HashAlgo::Sha1, b"abc");
        assert_eq!(h.to_base16(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let h = Hash::digest(HashAlgo::Sha256, b"abc");
        assert_eq!(
            h.to_base16(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let h = Hash::digest(HashAlgo::Sha512, b"");
        assert!(h.to_base16().starts_with("cf83e1357eefb8bd"));
    }

    #[test]
    fn base32_known_value() {
        // sha256 of the empty string in Nix base-32, as printed by Nix.
        let h = Hash::digest(HashAlgo::Sha256, b"");
        assert_eq!(
            h.to_base32(),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
    }

    #[test]
    fn base32_round_trip_all_sizes() {
        for size in [1usize, 2, 5, 16, 20, 32, 64] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 37 + 11) as u8).collect();
            let s = encode_base32(&bytes);
            assert_eq!(s.len(), base32_len(size));
            assert_eq!(decode_base32(&s, size).as_deref(), Some(&bytes[..]));
        }
        let ff = vec![0xffu8; 20];
        assert_eq!(decode_base32(&encode_base32(&ff), 20), Some(ff));
    }

    #[test]
    fn base32_rejects_bad_input() {
        let good = Hash::digest(HashAlgo::Sha1, b"x").to_base32();
        assert!(decode_base32(&good[1..], 20).is_none());
        let bad = format!("e{}", &good[1..]);
        assert!(decode_base32(&bad, 20).is_none());
        // md5: 26 digits = 130 bits for 128 bits, so the top digit must be < 4.
        let mut s = Hash::digest(HashAlgo::Md5, b"x").to_base32();
        s.replace_range(0..1, "z");
        assert!(decode_base32(&s, 16).is_none());
    }

    #[test]
    fn parse_all_forms() {
        let h = Hash::digest(HashAlgo::Sha256, b"hello");
        let forms = [
            h.to_string_as(HashFormat::Base16, true),
            h.to_string_as(HashFormat::Base32, true),
            h.to_string_as(HashFormat::Base64, true),
            h.to_sri(),
            h.to_base16().to_uppercase(),
        ];
        for f in &forms {
            assert_eq!(
                Hash::parse(f, Some(HashAlgo::Sha256)).as_ref(),
                Ok(&h),
                "{f}"
            );
        }
        for f in &forms[..4] {
            assert_eq!(Hash::parse(f, None).as_ref(), Ok(&h), "{f}");
        }
        for f in [h.to_base16(), h.to_base32(), h.to_base64()] {
            assert_eq!(Hash::parse(&f, Some(HashAlgo::Sha256)).as_ref(), Ok(&h));
        }
    }

    #[test]
    fn parse_errors() {
        let h = Hash::digest(HashAlgo::Sha256, b"hello");
        assert!(matches!(
            Hash::parse(&h.to_base32(), None),
            Err(HashError::MissingAlgo(_))
        ));
        assert!(matches!(
            Hash::parse(&h.to_sri(), Some(HashAlgo::Sha1)),
            Err(HashError::AlgoMismatch { .. })
        ));
        assert!(matches!(
            Hash::parse("sha257:abc", None),
            Err(HashError::UnknownAlgo(_))
        ));
        assert!(matches!(
            Hash::parse("sha256:abc", None),
            Err(HashError::WrongLength { .. })
        ));
        assert!(matches!(
            Hash::parse("sha1-AAAA", None),
            Err(HashError::InvalidSri(..))
        ));
        let bad16 = format!("sha256:{}", "g".repeat(64));
        assert!(matches!(
            Hash::parse(&bad16, None),
            Err(HashError::InvalidBase16(_))
        ));
        assert_eq!(
            Hash::parse_allow_empty("", Some(HashAlgo::Sha1)),
            Ok(Hash::zero(HashAlgo::Sha1))
        );
        assert_eq!(
            Hash::parse_allow_empty("", None),
            Err(HashError::EmptyWithoutAlgo)
        );
        // Messages say what was expected.
        let msg = Hash::parse("sha256:abc", None).unwrap_err().to_string();
        assert!(
            msg.contains("64 base-16, 52 base-32 or 44 base-64"),
            "{msg}"
        );
    }

    #[test]
    fn convert() {
        let h = Hash::digest(HashAlgo::Sha1, b"c");
        assert_eq!(
            convert_hash(&h.to_sri(), None, "base16").as_deref(),
            Ok(h.to_base16().as_str())
        );
        assert_eq!(
            convert_hash(&h.to_base16(), Some("sha1"), "nix32").as_deref(),
            Ok(h.to_base32().as_str())
        );
        assert_eq!(
            convert_hash(&h.to_base32(), Some("sha1"), "sri").as_deref(),
            Ok(h.to_sri().as_str())
        );
        assert_eq!(
            convert_hash(&h.to_base16(), Some("sha1"), "base64").as_deref(),
            Ok(h.to_base64().as_str())
        );
        assert!(matches!(
            convert_hash(&h.to_base16(), Some("sha1"), "hex"),
            Err(HashError::UnknownFormat(_))
        ));
        assert!(matches!(
            convert_hash(&h.to_base16(), Some("blake3"), "sri"),
            Err(HashError::UnknownAlgo(_))
        ));
    }

    #[test]
    fn lengths() {
        assert_eq!(HashAlgo::Md5.base32_len(), 26);
        assert_eq!(HashAlgo::Sha1.base32_len(), 32);
        assert_eq!(HashAlgo::Sha256.base32_len(), 52);
        assert_eq!(HashAlgo::Sha512.base32_len(), 103);
        assert_eq!(HashAlgo::Sha256.base64_len(), 44);
        assert_eq!(HashAlgo::Sha1.base64_len(), 28);
        assert_eq!(HashAlgo::Md5.base64_len(), 24);
        assert_eq!(HashAlgo::Sha512.base64_len(), 88);
    }

    #[test]
    fn compress() {
        let c = compress_hash(&[1, 2, 3, 4, 5], 2);
        assert_eq!(c, vec![1 ^ 3 ^ 5, 2 ^ 4]);
    }
}
