//! The evaluator's view of the store: store-path arithmetic for
//! `toFile`, path copying (`"${./x}"`, `builtins.path`, `filterSource`),
//! the hashing builtins and `derivationStrict`, computed exactly as C++
//! Nix computes them (the `tests/lang` cases check it against Nix).
//!
//! Nothing is written here: what would be added to the store is recorded
//! in `Eval::store_writes` and `Eval::drvs` for a builder to realise.
//!
//! TODO(store issue): the `ox-store` crate is meant to own these
//! algorithms; when it lands, this module should call it instead.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use base64::Engine as _;
use sha2::Digest as _;

use crate::builtins::{attrs_arg, fn_arg, list_arg, string_arg};
use crate::error::{err, ErrorKind, EvalError, Result, Span};
use crate::eval::Eval;
use crate::value::{sym, Attrs, Context, Value};

// ---------------------------------------------------------------------
// Hashes

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub fn parse(s: &str) -> Option<Algo> {
        Some(match s {
            "md5" => Algo::Md5,
            "sha1" => Algo::Sha1,
            "sha256" => Algo::Sha256,
            "sha512" => Algo::Sha512,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }
    pub fn digest_len(self) -> usize {
        match self {
            Algo::Md5 => 16,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
            Algo::Sha512 => 64,
        }
    }
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Algo::Md5 => md5::Md5::digest(data).to_vec(),
            Algo::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Algo::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Algo::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

const NIX32: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Nix's base-32: its own alphabet, least significant bits first.
pub fn nix32(hash: &[u8]) -> String {
    if hash.is_empty() {
        return String::new();
    }
    let len = (hash.len() * 8 - 1) / 5 + 1;
    let mut s = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let lo = (hash[i] as u16) >> j;
        let hi = if i + 1 < hash.len() {
            (hash[i + 1] as u16) << (8 - j)
        } else {
            0
        };
        s.push(NIX32[((lo | hi) & 0x1f) as usize] as char);
    }
    s
}

pub fn nix32_decode(s: &str, len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    let chars: Vec<u8> = s.bytes().collect();
    for (n, &c) in chars.iter().rev().enumerate() {
        let digit = NIX32.iter().position(|&x| x == c)? as u16;
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        if i >= len {
            if digit != 0 {
                return None;
            }
            continue;
        }
        out[i] |= (digit << j) as u8;
        let carry = digit >> (8 - j);
        if i + 1 < len {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return None;
        }
    }
    Some(out)
}

/// Parse a hash in base16, Nix base-32, base64 or SRI form (with an
/// optional `algo:` prefix), as `convertHash`/`outputHash` accept them.
pub fn parse_hash(s: &str, algo: Option<Algo>) -> std::result::Result<(Algo, Vec<u8>), String> {
    let (algo, rest, sri) =
        if let Some((a, r)) = s.split_once('-').filter(|(a, _)| Algo::parse(a).is_some()) {
            (Algo::parse(a), r, true)
        } else if let Some((a, r)) = s.split_once(':') {
            match Algo::parse(a) {
                Some(x) => (Some(x), r, false),
                None => return Err(format!("unknown hash algorithm '{}'", a)),
            }
        } else {
            (algo, s, false)
        };
    let Some(algo) = algo else {
        return Err(format!(
            "hash '{}' does not include a type, nor is the type otherwise known from context",
            s
        ));
    };
    let n = algo.digest_len();
    let bytes = if sri {
        base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| format!("invalid SRI hash '{}'", s))?
    } else if rest.len() == n * 2 {
        hex::decode(rest).map_err(|_| format!("invalid base-16 hash '{}'", s))?
    } else if rest.len() == (n * 8 - 1) / 5 + 1 {
        nix32_decode(rest, n).ok_or_else(|| format!("invalid base-32 hash '{}'", s))?
    } else if rest.len() == n.div_ceil(3) * 4 {
        base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| format!("invalid base-64 hash '{}'", s))?
    } else {
        return Err(format!(
            "hash '{}' has wrong length for hash algorithm '{}'",
            s,
            algo.name()
        ));
    };
    if bytes.len() != n {
        return Err(format!(
            "hash '{}' has wrong length for hash algorithm '{}'",
            s,
            algo.name()
        ));
    }
    Ok((algo, bytes))
}

pub fn format_hash(algo: Algo, bytes: &[u8], format: &str) -> Option<String> {
    Some(match format {
        "base16" => hex::encode(bytes),
        "nix32" | "base32" => nix32(bytes),
        "base64" => base64::engine::general_purpose::STANDARD.encode(bytes),
        "sri" => format!(
            "{}-{}",
            algo.name(),
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
        _ => return None,
    })
}

// ---------------------------------------------------------------------
// Store paths

fn compress(hash: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    for (i, b) in hash.iter().enumerate() {
        out[i % size] ^= b;
    }
    out
}

/// `makeStorePath`: the path of an object of `kind` whose inner hash is
/// the sha256 `hash`.
pub fn make_store_path(store_dir: &str, kind: &str, hash: &[u8], name: &str) -> String {
    let s = format!(
        "{}:sha256:{}:{}:{}",
        kind,
        hex::encode(hash),
        store_dir,
        name
    );
    let h = sha2::Sha256::digest(s.as_bytes());
    format!("{}/{}-{}", store_dir, nix32(&compress(&h, 20)), name)
}

/// Path of a text object (`toFile`, `.drv` files) with references.
pub fn make_text_path(
    store_dir: &str,
    name: &str,
    contents: &[u8],
    refs: &BTreeSet<String>,
) -> String {
    let mut kind = String::from("text");
    for r in refs {
        kind.push(':');
        kind.push_str(r);
    }
    make_store_path(store_dir, &kind, &sha2::Sha256::digest(contents), name)
}

/// Path of a fixed-output object.
pub fn make_fixed_output_path(
    store_dir: &str,
    recursive: bool,
    algo: Algo,
    hash: &[u8],
    name: &str,
) -> String {
    if recursive && algo == Algo::Sha256 {
        make_store_path(store_dir, "source", hash, name)
    } else {
        let inner = format!(
            "fixed:out:{}{}:{}:",
            if recursive { "r:" } else { "" },
            algo.name(),
            hex::encode(hash)
        );
        make_store_path(
            store_dir,
            "output:out",
            &sha2::Sha256::digest(inner.as_bytes()),
            name,
        )
    }
}

pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("store path name is empty".into());
    }
    if name.len() > 211 {
        return Err(format!(
            "store path name '{}' is longer than 211 characters",
            name
        ));
    }
    if name.starts_with('.') {
        return Err(format!("store path name '{}' starts with a period", name));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+-._?=".contains(*c)))
    {
        return Err(format!(
            "store path name '{}' contains illegal character '{}'",
            name, c
        ));
    }
    Ok(())
}

/// `placeholder`: `/` + nix32(sha256("nix-output:" + output)).
pub fn placeholder(output: &str) -> String {
    let h = sha2::Sha256::digest(format!("nix-output:{}", output).as_bytes());
    format!("/{}", nix32(&h))
}

// ---------------------------------------------------------------------
// NAR

fn nar_str(w: &mut impl std::io::Write, s: &[u8]) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s)?;
    let pad = (8 - s.len() % 8) % 8;
    w.write_all(&[0u8; 8][..pad])
}

/// Serialise `path` as a NAR; `filter(path, type)` decides which entries
/// below the root are included.
pub fn dump_nar(
    path: &std::path::Path,
    w: &mut impl std::io::Write,
    filter: &mut dyn FnMut(&std::path::Path, &str) -> std::io::Result<bool>,
) -> std::io::Result<()> {
    nar_str(w, b"nix-archive-1")?;
    dump_node(path, w, filter)
}

fn dump_node(
    path: &std::path::Path,
    w: &mut impl std::io::Write,
    filter: &mut dyn FnMut(&std::path::Path, &str) -> std::io::Result<bool>,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::symlink_metadata(path)?;
    nar_str(w, b"(")?;
    nar_str(w, b"type")?;
    if md.file_type().is_symlink() {
        nar_str(w, b"symlink")?;
        nar_str(w, b"target")?;
        let t = std::fs::read_link(path)?;
        nar_str(w, t.as_os_str().as_encoded_bytes())?;
    } else if md.is_dir() {
        nar_str(w, b"directory")?;
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for n in names {
            let child = path.join(&n);
            let cmd = std::fs::symlink_metadata(&child)?;
            let kind = if cmd.file_type().is_symlink() {
                "symlink"
            } else if cmd.is_dir() {
                "directory"
            } else if cmd.is_file() {
                "regular"
            } else {
                "unknown"
            };
            if !filter(&child, kind)? {
                continue;
            }
            nar_str(w, b"entry")?;
            nar_str(w, b"(")?;
            nar_str(w, b"name")?;
            nar_str(w, n.as_encoded_bytes())?;
            nar_str(w, b"node")?;
            dump_node(&child, w, filter)?;
            nar_str(w, b")")?;
        }
    } else {
        nar_str(w, b"regular")?;
        if md.permissions().mode() & 0o100 != 0 {
            nar_str(w, b"executable")?;
            nar_str(w, b"")?;
        }
        nar_str(w, b"contents")?;
        let data = std::fs::read(path)?;
        nar_str(w, &data)?;
    }
    nar_str(w, b")")
}

struct HashWriter(sha2::Sha256);
impl std::io::Write for HashWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Copy (the path of) a source into the store: sha256 over its NAR, as a
/// `source` path. `filter` is a Nix function `path: type: bool`.
pub fn add_path(
    ev: &mut Eval,
    path: &str,
    name: Option<&str>,
    recursive: bool,
    filter: Option<Value>,
    span: Span,
) -> Result<String> {
    let p = std::path::Path::new(path);
    let name = match name {
        Some(n) => n.to_string(),
        None => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if let Err(e) = check_name(&name) {
        return err(ErrorKind::Other, e, span);
    }
    if std::fs::symlink_metadata(p).is_err() {
        return err(
            ErrorKind::Other,
            format!("getting status of '{}': No such file or directory", path),
            span,
        );
    }
    let key = format!("{}\0{}\0{}", path, name, recursive);
    if filter.is_none() {
        if let Some(sp) = ev.path_cache.get(&key) {
            return Ok(sp.clone());
        }
    }
    let out = if recursive {
        let mut hw = HashWriter(sha2::Sha256::new());
        let mut eval_error: Option<Box<EvalError>> = None;
        let mut f = |child: &std::path::Path, kind: &str| -> std::io::Result<bool> {
            let Some(filter) = &filter else {
                return Ok(true);
            };
            if eval_error.is_some() {
                return Ok(false);
            }
            let r = ev
                .call_n(
                    filter.clone(),
                    vec![
                        Value::str(child.to_string_lossy().into_owned()),
                        Value::str(kind),
                    ],
                    Some(span),
                )
                .and_then(|v| ev.expect_bool(&v, span));
            match r {
                Ok(b) => Ok(b),
                Err(e) => {
                    eval_error = Some(e);
                    Ok(false)
                }
            }
        };
        let r = dump_nar(p, &mut hw, &mut f);
        if let Some(e) = eval_error {
            return Err(e);
        }
        if let Err(e) = r {
            return err(
                ErrorKind::Other,
                format!("reading '{}': {}", path, crate::builtins::io_msg(&e)),
                span,
            );
        }
        let h = hw.0.finalize();
        make_store_path(&ev.settings.store_dir, "source", &h, &name)
    } else {
        let data = std::fs::read(p).map_err(|e| {
            EvalError::new(
                ErrorKind::Other,
                format!("reading '{}': {}", path, crate::builtins::io_msg(&e)),
                Some(span),
            )
        })?;
        let h = sha2::Sha256::digest(&data);
        make_fixed_output_path(&ev.settings.store_dir, false, Algo::Sha256, &h, &name)
    };
    ev.store_writes.insert(
        out.clone(),
        crate::StoreObject::Source {
            name,
            path: path.to_string(),
        },
    );
    if filter.is_none() {
        ev.path_cache.insert(key, out.clone());
    }
    Ok(out)
}

fn ctx_of(path: &str) -> Context {
    let mut s = BTreeSet::new();
    s.insert(path.to_string());
    Some(Rc::new(s))
}

pub fn to_file(ev: &mut Eval, a: Vec<Value>, span: Span) -> Result<Value> {
    let name = string_arg(ev, &a[0], "the first argument of builtins.toFile", span)?;
    let contents = ev.coerce_to_string(a[1].clone(), span, false, true)?;
    if let Err(e) = check_name(&name.s) {
        return err(ErrorKind::Other, e, span);
    }
    let mut refs = BTreeSet::new();
    if let Some(c) = &contents.ctx {
        for e in c.iter() {
            if e.starts_with('=') || e.starts_with('!') {
                return err(
                    ErrorKind::Other,
                    format!(
                        "files created by builtins.toFile may not reference derivations, but {} references {}",
                        name.s,
                        e.trim_start_matches('=')
                    ),
                    span,
                );
            }
            refs.insert(e.clone());
        }
    }
    let path = make_text_path(
        &ev.settings.store_dir,
        &name.s,
        contents.s.as_bytes(),
        &refs,
    );
    ev.store_writes.insert(
        path.clone(),
        crate::StoreObject::Text {
            name: name.s.clone(),
            contents: contents.s.clone(),
        },
    );
    Ok(Value::str_ctx(path.clone(), ctx_of(&path)))
}

pub fn path_builtin(ev: &mut Eval, a: Vec<Value>, span: Span) -> Result<Value> {
    let args = attrs_arg(ev, &a[0], "the argument of builtins.path", span)?;
    let Some(p) = args.get("path") else {
        return err(
            ErrorKind::Other,
            "attribute 'path' missing in the argument of builtins.path",
            span,
        );
    };
    let (path, _) = ev.coerce_to_path(p.clone(), span)?;
    let name = match args.get("name") {
        Some(n) => Some(
            string_arg(ev, n, "the 'name' attribute of builtins.path", span)?
                .s
                .clone(),
        ),
        None => None,
    };
    let filter = match args.get("filter") {
        Some(f) => Some(fn_arg(
            ev,
            f,
            "the 'filter' attribute of builtins.path",
            span,
        )?),
        None => None,
    };
    let recursive = match args.get("recursive") {
        Some(r) => ev.expect_bool(r, span)?,
        None => true,
    };
    let out = add_path(ev, &path, name.as_deref(), recursive, filter, span)?;
    if let Some(h) = args.get("sha256") {
        let h = string_arg(ev, h, "the 'sha256' attribute of builtins.path", span)?;
        let (algo, expected) = parse_hash(&h.s, Some(Algo::Sha256))
            .map_err(|m| EvalError::new(ErrorKind::Other, m, Some(span)))?;
        let nm = name.clone().unwrap_or_else(|| {
            std::path::Path::new(&path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let want = make_fixed_output_path(&ev.settings.store_dir, recursive, algo, &expected, &nm);
        if want != out {
            return err(
                ErrorKind::Other,
                format!(
                    "hash mismatch in file '{}': expected path '{}', got '{}'",
                    path, want, out
                ),
                span,
            );
        }
    }
    Ok(Value::str_ctx(out.clone(), ctx_of(&out)))
}

pub fn filter_source(ev: &mut Eval, a: Vec<Value>, span: Span) -> Result<Value> {
    let f = fn_arg(
        ev,
        &a[0],
        "the first argument of builtins.filterSource",
        span,
    )?;
    let (path, _) = ev.coerce_to_path(a[1].clone(), span)?;
    let out = add_path(ev, &path, None, true, Some(f), span)?;
    Ok(Value::str_ctx(out.clone(), ctx_of(&out)))
}

fn algo_arg(ev: &mut Eval, v: &Value, what: &str, span: Span) -> Result<Algo> {
    let s = string_arg(ev, v, what, span)?;
    Algo::parse(&s.s).ok_or_else(|| {
        EvalError::new(
            ErrorKind::Other,
            format!("unknown hash algorithm '{}'", s.s),
            Some(span),
        )
    })
}

pub fn hash_string(ev: &mut Eval, a: Vec<Value>, span: Span) -> Result<Value> {
    let algo = algo_arg(ev, &a[0], "the first argument of builtins.hashString", span)?;
    let s = ev.coerce_to_string(a[1].clone(), span, false, false)?;
    Ok(Value::str(hex::encode(algo.digest(s.s.as_bytes()))))
}

pub fn hash_file(ev: &mut Eval, a: Vec<Value>, span: Span) -> Result<Value> {
    let algo = algo_arg(ev, &a[0], "the first argument of builtins.hashFile", span)?;
    let (p, _) = ev.coerce_to_path(a[1].clone(), span)?;
    let data = std::fs::read(&p).map_err(|e| {
        EvalError::new(
            ErrorKind::Other,
            format!("opening file '{}': {}", p, crate::builtins::io_msg(&e)),
            Some(span),
        )
    })?;
    Ok(Value::str(hex::encode(algo.digest(&data))))
}

pub fn convert_hash(ev: &mut Eval, a: Vec<Value>, span: Span) -> Result<Value> {
    let args = attrs_arg(ev, &a[0], "the argument of builtins.convertHash", span)?;
    let get = |n: &str| args.get(n).cloned();
    let Some(h) = get("hash") else {
        return err(
            ErrorKind::Other,
            "attribute 'hash' missing in the argument of builtins.convertHash",
            span,
        );
    };
    let h = string_arg(ev, &h, "the 'hash' attribute of builtins.convertHash", span)?;
    let algo = match get("hashAlgo") {
        Some(x) => Some(algo_arg(
            ev,
            &x,
            "the 'hashAlgo' attribute of builtins.convertHash",
            span,
        )?),
        None => None,
    };
    let Some(fmt) = get("toHashFormat") else {
        return err(
            ErrorKind::Other,
            "attribute 'toHashFormat' missing in the argument of builtins.convertHash",
            span,
        );
    };
    let fmt = string_arg(
        ev,
        &fmt,
        "the 'toHashFormat' attribute of builtins.convertHash",
        span,
    )?;
    let (algo, bytes) =
        parse_hash(&h.s, algo).map_err(|m| EvalError::new(ErrorKind::Other, m, Some(span)))?;
    match format_hash(algo, &bytes, &fmt.s) {
        Some(s) => Ok(Value::str(s)),
        None => err(
            ErrorKind::Other,
            format!(
                "unknown hash format '{}', expected 'base16', 'nix32', 'base32', 'base64' or 'sri'",
                fmt.s
            ),
            span,
        ),
    }
}

// ---------------------------------------------------------------------
// Derivations

/// What the evaluator remembers about each derivation it instantiated.
#[derive(Clone, Debug)]
pub struct DrvRecord {
    pub aterm: String,
    /// `hashDerivationModulo`, used by derivations depending on this one.
    pub modulo: Vec<u8>,
    /// References of the `.drv` file (input sources and derivations).
    pub refs: BTreeSet<String>,
    pub outputs: Vec<String>,
}

fn aterm_str(s: &str, out: &mut String) {
    crate::print::quote_into(s, out, false)
}

struct Drv {
    /// name -> (path, hashAlgo, hash)
    outputs: BTreeMap<String, (String, String, String)>,
    input_drvs: BTreeMap<String, BTreeSet<String>>,
    input_srcs: BTreeSet<String>,
    system: String,
    builder: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

impl Drv {
    fn aterm(&self, input_drvs: &BTreeMap<String, BTreeSet<String>>) -> String {
        let mut s = String::from("Derive([");
        for (i, (name, (path, algo, hash))) in self.outputs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('(');
            aterm_str(name, &mut s);
            s.push(',');
            aterm_str(path, &mut s);
            s.push(',');
            aterm_str(algo, &mut s);
            s.push(',');
            aterm_str(hash, &mut s);
            s.push(')');
        }
        s.push_str("],[");
        for (i, (p, outs)) in input_drvs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('(');
            aterm_str(p, &mut s);
            s.push_str(",[");
            for (j, o) in outs.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                aterm_str(o, &mut s);
            }
            s.push_str("])");
        }
        s.push_str("],[");
        for (i, p) in self.input_srcs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            aterm_str(p, &mut s);
        }
        s.push_str("],");
        aterm_str(&self.system, &mut s);
        s.push(',');
        aterm_str(&self.builder, &mut s);
        s.push_str(",[");
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            aterm_str(a, &mut s);
        }
        s.push_str("],[");
        for (i, (k, v)) in self.env.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('(');
            aterm_str(k, &mut s);
            s.push(',');
            aterm_str(v, &mut s);
            s.push(')');
        }
        s.push_str("])");
        s
    }

    /// `hashDerivationModulo`: fixed outputs hash by their content hash;
    /// otherwise input derivations are replaced by their own modulo hash.
    fn modulo(&self, ev: &Eval) -> Vec<u8> {
        if let Some((path, algo, hash)) = self.outputs.get("out") {
            if self.outputs.len() == 1 && !hash.is_empty() {
                let s = format!("fixed:out:{}:{}:{}", algo, hash, path);
                return sha2::Sha256::digest(s.as_bytes()).to_vec();
            }
        }
        let mut masked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (p, outs) in &self.input_drvs {
            let h = ev
                .drvs
                .get(p)
                .map(|r| hex::encode(&r.modulo))
                .unwrap_or_else(|| p.clone());
            masked.entry(h).or_default().extend(outs.iter().cloned());
        }
        sha2::Sha256::digest(self.aterm(&masked).as_bytes()).to_vec()
    }
}

fn closure_of(ev: &Eval, drv: &str, acc: &mut BTreeSet<String>) {
    if !acc.insert(drv.to_string()) {
        return;
    }
    if let Some(r) = ev.drvs.get(drv) {
        for x in r.refs.clone() {
            closure_of(ev, &x, acc);
        }
    }
}

pub fn derivation_strict(ev: &mut Eval, a: Vec<Value>, span: Span) -> Result<Value> {
    let args = attrs_arg(ev, &a[0], "the argument of derivationStrict", span)?;
    let Some(name_v) = args.get("name") else {
        return err(ErrorKind::Other, "required attribute 'name' missing", span);
    };
    let name = string_arg(ev, name_v, "the derivation name", span)?
        .s
        .clone();
    let what = |k: &str| {
        format!(
            "while evaluating the attribute '{}' of derivation '{}'",
            k, name
        )
    };
    let ignore_nulls = match args.get("__ignoreNulls") {
        Some(v) => ev.expect_bool(v, span)?,
        None => false,
    };
    let mut drv = Drv {
        outputs: BTreeMap::new(),
        input_drvs: BTreeMap::new(),
        input_srcs: BTreeSet::new(),
        system: String::new(),
        builder: String::new(),
        args: Vec::new(),
        env: BTreeMap::new(),
    };
    let mut ctx: BTreeSet<String> = BTreeSet::new();
    let mut output_names: Vec<String> = vec!["out".into()];
    let (mut out_hash, mut out_algo, mut out_mode) = (None, None, "flat".to_string());
    for (k, v) in args.entries.iter() {
        let key: &str = k;
        if key == "__ignoreNulls" {
            continue;
        }
        let v = ev.force(v.clone()).map_err(|mut e| {
            e.trace.push(crate::error::Frame {
                msg: what(key),
                span: Some(span),
            });
            e
        })?;
        if ignore_nulls && matches!(v, Value::Null) {
            continue;
        }
        if key == "args" {
            let l = list_arg(ev, &v, "the 'args' attribute of a derivation", span)?;
            for x in l.iter() {
                let s = ev.coerce_to_string(x.clone(), span, true, true)?;
                if let Some(c) = &s.ctx {
                    ctx.extend(c.iter().cloned());
                }
                drv.args.push(s.s);
            }
            continue;
        }
        let s = ev
            .coerce_to_string(v.clone(), span, true, true)
            .map_err(|mut e| {
                e.trace.push(crate::error::Frame {
                    msg: what(key),
                    span: Some(span),
                });
                e
            })?;
        if let Some(c) = &s.ctx {
            ctx.extend(c.iter().cloned());
        }
        match key {
            "builder" => drv.builder = s.s.clone(),
            "system" => drv.system = s.s.clone(),
            "outputHash" => out_hash = Some(s.s.clone()),
            "outputHashAlgo" => out_algo = Some(s.s.clone()),
            "outputHashMode" => out_mode = s.s.clone(),
            "outputs" => {
                let l = list_arg(ev, &v, "the 'outputs' attribute of a derivation", span)?;
                let mut names = Vec::new();
                for x in l.iter() {
                    let n = string_arg(ev, x, "an output name", span)?.s.clone();
                    if n == "drv" {
                        return err(
                            ErrorKind::Other,
                            "invalid derivation output name 'drv'",
                            span,
                        );
                    }
                    if names.contains(&n) {
                        return err(
                            ErrorKind::Other,
                            format!("duplicate derivation output '{}'", n),
                            span,
                        );
                    }
                    names.push(n);
                }
                if names.is_empty() {
                    return err(
                        ErrorKind::Other,
                        "derivation cannot have an empty set of outputs",
                        span,
                    );
                }
                output_names = names;
            }
            _ => {}
        }
        drv.env.insert(key.to_string(), s.s);
    }
    if let Err(e) = check_name(&name) {
        return err(
            ErrorKind::Other,
            format!("invalid derivation name: {}", e),
            span,
        );
    }
    if !args.contains("builder") {
        return err(
            ErrorKind::Other,
            format!(
                "required attribute 'builder' missing in derivation '{}'",
                name
            ),
            span,
        );
    }
    if !args.contains("system") {
        return err(
            ErrorKind::Other,
            format!(
                "required attribute 'system' missing in derivation '{}'",
                name
            ),
            span,
        );
    }
    // string contexts become inputs
    for c in &ctx {
        if let Some(p) = c.strip_prefix('=') {
            let mut cl = BTreeSet::new();
            closure_of(ev, p, &mut cl);
            for x in cl {
                if let Some(r) = ev.drvs.get(&x) {
                    let outs = r.outputs.clone();
                    drv.input_drvs.entry(x.clone()).or_default().extend(outs);
                }
                drv.input_srcs.insert(x);
            }
        } else if let Some(rest) = c.strip_prefix('!') {
            if let Some((out, p)) = rest.split_once('!') {
                drv.input_drvs
                    .entry(p.to_string())
                    .or_default()
                    .insert(out.to_string());
            }
        } else {
            drv.input_srcs.insert(c.clone());
        }
    }
    let store_dir = ev.settings.store_dir.clone();
    if let Some(h) = out_hash {
        if output_names != ["out"] {
            return err(
                ErrorKind::Other,
                "multiple outputs are not supported in fixed-output derivations",
                span,
            );
        }
        let algo = match &out_algo {
            Some(a) if !a.is_empty() => Some(Algo::parse(a).ok_or_else(|| {
                EvalError::new(
                    ErrorKind::Other,
                    format!("unknown hash algorithm '{}'", a),
                    Some(span),
                )
            })?),
            _ => None,
        };
        let (algo, bytes) =
            parse_hash(&h, algo).map_err(|m| EvalError::new(ErrorKind::Other, m, Some(span)))?;
        let recursive = match out_mode.as_str() {
            "recursive" => true,
            "flat" => false,
            m => {
                return err(
                    ErrorKind::Other,
                    format!("invalid value '{}' for 'outputHashMode' attribute", m),
                    span,
                )
            }
        };
        let path = make_fixed_output_path(&store_dir, recursive, algo, &bytes, &name);
        drv.env.insert("out".into(), path.clone());
        drv.outputs.insert(
            "out".into(),
            (
                path,
                format!("{}{}", if recursive { "r:" } else { "" }, algo.name()),
                hex::encode(&bytes),
            ),
        );
    } else {
        for o in &output_names {
            drv.env.insert(o.clone(), String::new());
            drv.outputs
                .insert(o.clone(), (String::new(), String::new(), String::new()));
        }
        let h = drv.modulo(ev);
        for o in &output_names {
            let suffixed = if o == "out" {
                name.clone()
            } else {
                format!("{}-{}", name, o)
            };
            let path = make_store_path(&store_dir, &format!("output:{}", o), &h, &suffixed);
            drv.env.insert(o.clone(), path.clone());
            if let Some(e) = drv.outputs.get_mut(o) {
                e.0 = path;
            }
        }
    }
    let aterm = drv.aterm(&drv.input_drvs);
    let mut refs: BTreeSet<String> = drv.input_srcs.clone();
    refs.extend(drv.input_drvs.keys().cloned());
    let drv_path = make_text_path(
        &store_dir,
        &format!("{}.drv", name),
        aterm.as_bytes(),
        &refs,
    );
    let modulo = drv.modulo(ev);
    ev.drvs.insert(
        drv_path.clone(),
        DrvRecord {
            aterm,
            modulo,
            refs,
            outputs: output_names.clone(),
        },
    );
    let mut entries = vec![(
        sym("drvPath"),
        Value::str_ctx(drv_path.clone(), ctx_of(&format!("={}", drv_path))),
    )];
    for o in &output_names {
        let p = drv.outputs.get(o).map(|x| x.0.clone()).unwrap_or_default();
        entries.push((
            sym(o),
            Value::str_ctx(p, ctx_of(&format!("!{}!{}", o, drv_path))),
        ));
    }
    Ok(Value::attrs(Attrs::from_unsorted(entries)))
}

/// Write a derivation's ATerm, for tests and `ox store` later.
pub fn write_aterm(ev: &Eval, drv_path: &str, w: &mut impl std::io::Write) -> std::io::Result<()> {
    if let Some(r) = ev.drvs.get(drv_path) {
        w.write_all(r.aterm.as_bytes())?;
    }
    w.flush()
}
