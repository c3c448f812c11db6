//! Derivations: the ATerm `.drv` format, `hashDerivationModulo`, and the
//! path arithmetic `derivationStrict` performs once the evaluator has
//! turned the attribute set into strings and collected string contexts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::hash::{decode_base16, Hash, HashAlgo, HashError};
use crate::store_path::{
    fixed_out_fingerprint, FileIngestionMethod, StoreDir, StorePath, StorePathError,
};

/// Errors from building, printing, parsing or hashing derivations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerivationError {
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("malformed derivation at byte {pos}: expected {expected}")]
    Parse { pos: usize, expected: String },
    #[error("derivation contains a string that is not valid UTF-8 at byte {0}")]
    NotUtf8(usize),
    #[error("derivation '{0}' is not known: every input derivation must be resolvable")]
    UnknownInput(String),
    #[error("derivation '{0}' depends on itself: expected an acyclic graph of input derivations")]
    Cycle(String),
    #[error("derivation '{drv}' has no output '{output}'")]
    MissingOutput { drv: String, output: String },
    #[error("derivation mixes fixed-output and other outputs: expected all outputs fixed or none")]
    MixedOutputs,
    #[error("floating content-addressed outputs are not supported (output '{0}')")]
    FloatingUnsupported(String),
    #[error("derivation names are not allowed to end in '.drv' (got '{0}')")]
    NameEndsInDrv(String),
    #[error("invalid derivation output name 'drv'")]
    OutputNamedDrv,
    #[error("duplicate derivation output '{0}'")]
    DuplicateOutput(String),
    #[error("derivation cannot have an empty set of outputs")]
    NoOutputs,
    #[error("multiple outputs are not supported in fixed-output derivations: expected exactly [\"out\"]")]
    FixedOutputNotOut,
    #[error("invalid value '{0}' for 'outputHashMode' attribute: expected 'flat' or 'recursive'")]
    BadHashMode(String),
    #[error("required attribute '{0}' missing")]
    MissingAttr(&'static str),
}

/// One output of a derivation, as recorded in the `.drv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DerivationOutput {
    /// Path derived from the derivation's modulo hash.
    InputAddressed(StorePath),
    /// Path fixed in advance by the content hash (`outputHash`).
    Fixed {
        path: StorePath,
        method: FileIngestionMethod,
        hash: Hash,
    },
    /// Content-addressed with the hash known only after building
    /// (experimental `ca-derivations`); parsed but not hashed.
    Floating {
        method: FileIngestionMethod,
        algo: HashAlgo,
    },
    /// Path not yet known: all fields empty in the ATerm.
    Deferred,
}

impl DerivationOutput {
    /// The output path, when the derivation fixes one.
    pub fn path(&self) -> Option<&StorePath> {
        match self {
            DerivationOutput::InputAddressed(p) | DerivationOutput::Fixed { path: p, .. } => {
                Some(p)
            }
            _ => None,
        }
    }
}

/// A derivation. Maps and sets are ordered as Nix orders them (byte order
/// of names; base-name order of store paths), which fixes the ATerm.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Derivation {
    pub outputs: BTreeMap<String, DerivationOutput>,
    /// Input derivation paths with the outputs used from each.
    pub input_drvs: BTreeMap<StorePath, BTreeSet<String>>,
    pub input_srcs: BTreeSet<StorePath>,
    pub system: String,
    pub builder: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// Modulo hash of a derivation per output: what dependents put in place
/// of its path when they are hashed. For ordinary derivations every
/// output has the same hash; fixed-output ones hash each output by its
/// content hash and path only, so changing how a tarball is fetched does
/// not rebuild everything that uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrvHashes {
    pub outputs: BTreeMap<String, Hash>,
}

/// Nix's C-style string quoting: `"`, `\\`, newline, return and tab
/// escaped, everything else as is. Unparameterised it is the ATerm
/// string of a `.drv`; with `escape_interpolation`, `${` also becomes
/// `\${`, which makes it a Nix expression string literal (the
/// evaluator's printer uses it so).
pub fn quote_into(s: &str, out: &mut String, escape_interpolation: bool) {
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if escape_interpolation && chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn escape_into(out: &mut String, s: &str) {
    quote_into(s, out, false)
}

fn list_into<I, F>(out: &mut String, items: I, mut f: F)
where
    I: IntoIterator,
    F: FnMut(&mut String, I::Item),
{
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        f(out, item);
    }
    out.push(']');
}

impl Derivation {
    /// The `.drv` file contents.
    pub fn to_aterm(&self, store: &StoreDir) -> String {
        self.unparse(store, false, None)
    }

    /// Nix's `unparse`: `mask_outputs` blanks output paths (they are what
    /// is being computed) and `input_drvs` replaces the input derivation
    /// list (by modulo hashes) when hashing.
    fn unparse(
        &self,
        store: &StoreDir,
        mask_outputs: bool,
        input_drvs: Option<&BTreeMap<String, BTreeSet<String>>>,
    ) -> String {
        let mut s = String::with_capacity(1024);
        s.push_str("Derive(");
        list_into(&mut s, &self.outputs, |s, (name, out)| {
            let (path, algo, hash) = match out {
                DerivationOutput::InputAddressed(p) => (Some(p), String::new(), String::new()),
                DerivationOutput::Fixed { path, method, hash } => (
                    Some(path),
                    format!("{}{}", method.prefix(), hash.algo()),
                    hash.to_base16(),
                ),
                DerivationOutput::Floating { method, algo } => {
                    (None, format!("{}{}", method.prefix(), algo), String::new())
                }
                DerivationOutput::Deferred => (None, String::new(), String::new()),
            };
            let path = match path {
                Some(p) if !mask_outputs => store.print(p),
                _ => String::new(),
            };
            s.push('(');
            escape_into(s, name);
            for field in [&path, &algo, &hash] {
                s.push(',');
                escape_into(s, field);
            }
            s.push(')');
        });
        s.push(',');
        let pair = |s: &mut String, key: &str, outs: &BTreeSet<String>| {
            s.push('(');
            escape_into(s, key);
            s.push(',');
            list_into(s, outs, |s, o| escape_into(s, o));
            s.push(')');
        };
        match input_drvs {
            Some(m) => list_into(&mut s, m, |s, (k, outs)| pair(s, k, outs)),
            None => list_into(&mut s, &self.input_drvs, |s, (p, outs)| {
                pair(s, &store.print(p), outs)
            }),
        }
        s.push(',');
        list_into(&mut s, &self.input_srcs, |s, p| {
            escape_into(s, &store.print(p))
        });
        s.push(',');
        escape_into(&mut s, &self.system);
        s.push(',');
        escape_into(&mut s, &self.builder);
        s.push(',');
        list_into(&mut s, &self.args, |s, a| escape_into(s, a));
        s.push(',');
        list_into(&mut s, &self.env, |s, (k, v)| {
            s.push('(');
            escape_into(s, k);
            s.push(',');
            escape_into(s, v);
            s.push(')');
        });
        s.push(')');
        s
    }

    /// Parses a `.drv` file.
    pub fn parse(store: &StoreDir, text: &str) -> Result<Derivation, DerivationError> {
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
        };
        p.expect("Derive(")?;
        let mut drv = Derivation::default();
        p.list(|p| {
            p.expect("(")?;
            let name = p.string()?;
            p.expect(",")?;
            let path = p.string()?;
            p.expect(",")?;
            let algo = p.string()?;
            p.expect(",")?;
            let hash = p.string()?;
            p.expect(")")?;
            let out = parse_output(store, &path, &algo, &hash)?;
            drv.outputs.insert(name, out);
            Ok(())
        })?;
        p.expect(",")?;
        p.list(|p| {
            p.expect("(")?;
            let path = store.parse(&p.string()?)?;
            p.expect(",")?;
            let mut outs = BTreeSet::new();
            p.list(|p| {
                outs.insert(p.string()?);
                Ok(())
            })?;
            p.expect(")")?;
            drv.input_drvs.insert(path, outs);
            Ok(())
        })?;
        p.expect(",")?;
        p.list(|p| {
            drv.input_srcs.insert(store.parse(&p.string()?)?);
            Ok(())
        })?;
        p.expect(",")?;
        drv.system = p.string()?;
        p.expect(",")?;
        drv.builder = p.string()?;
        p.expect(",")?;
        p.list(|p| {
            drv.args.push(p.string()?);
            Ok(())
        })?;
        p.expect(",")?;
        p.list(|p| {
            p.expect("(")?;
            let k = p.string()?;
            p.expect(",")?;
            let v = p.string()?;
            p.expect(")")?;
            drv.env.insert(k, v);
            Ok(())
        })?;
        p.expect(")")?;
        if p.pos != p.s.len() {
            return Err(p.err("end of input"));
        }
        Ok(drv)
    }

    /// True if every output is fixed (and there is at least one).
    pub fn is_fixed_output(&self) -> bool {
        !self.outputs.is_empty()
            && self
                .outputs
                .values()
                .all(|o| matches!(o, DerivationOutput::Fixed { .. }))
    }

    /// Store paths the `.drv` file refers to: input sources and input
    /// derivations.
    pub fn references(&self) -> BTreeSet<StorePath> {
        let mut refs = self.input_srcs.clone();
        refs.extend(self.input_drvs.keys().cloned());
        refs
    }

    /// The `.drv` path for this derivation named `name` (without `.drv`).
    pub fn drv_path(&self, store: &StoreDir, name: &str) -> Result<StorePath, DerivationError> {
        Ok(store.text_path_for(
            &format!("{name}.drv"),
            self.to_aterm(store).as_bytes(),
            &self.references(),
        )?)
    }
}

fn parse_output(
    store: &StoreDir,
    path: &str,
    algo: &str,
    hash: &str,
) -> Result<DerivationOutput, DerivationError> {
    if algo.is_empty() {
        if path.is_empty() {
            return Ok(DerivationOutput::Deferred);
        }
        return Ok(DerivationOutput::InputAddressed(store.parse(path)?));
    }
    let (method, algo) = match algo.strip_prefix("r:") {
        Some(a) => (FileIngestionMethod::Recursive, a),
        None => (FileIngestionMethod::Flat, algo),
    };
    let algo = HashAlgo::parse(algo)?;
    if hash.is_empty() {
        return Ok(DerivationOutput::Floating { method, algo });
    }
    let bytes = decode_base16(hash).ok_or_else(|| HashError::InvalidBase16(hash.to_owned()))?;
    Ok(DerivationOutput::Fixed {
        path: store.parse(path)?,
        method,
        hash: Hash::from_bytes(algo, &bytes)?,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, expected: &str) -> DerivationError {
        DerivationError::Parse {
            pos: self.pos,
            expected: expected.to_owned(),
        }
    }

    fn expect(&mut self, lit: &str) -> Result<(), DerivationError> {
        if self.s[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(self.err(&format!("'{lit}'")))
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// `[item,item,...]`
    fn list(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), DerivationError>,
    ) -> Result<(), DerivationError> {
        self.expect("[")?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("',' or ']'")),
            }
        }
    }

    /// A quoted string; `\n`, `\r`, `\t` are control characters and a
    /// backslash before anything else stands for that character.
    fn string(&mut self) -> Result<String, DerivationError> {
        self.expect("\"")?;
        let start = self.pos;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("closing '\"'")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let c = self.s.get(self.pos + 1).copied();
                    let c = c.ok_or_else(|| self.err("character after '\\'"))?;
                    out.push(match c {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        c => c,
                    });
                    self.pos += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| DerivationError::NotUtf8(start))
    }
}

/// Nix's `hashDerivationModulo`. `input_hashes` gives the [`DrvHashes`]
/// of an input derivation (see [`DrvHashCache`]). With `mask_outputs`
/// the output paths are blanked, which is how a derivation's own output
/// paths are computed.
pub fn hash_derivation_modulo(
    store: &StoreDir,
    drv: &Derivation,
    mask_outputs: bool,
    input_hashes: &mut dyn FnMut(&StorePath) -> Result<DrvHashes, DerivationError>,
) -> Result<DrvHashes, DerivationError> {
    let mut fixed = 0;
    for (name, out) in &drv.outputs {
        match out {
            DerivationOutput::Fixed { .. } => fixed += 1,
            DerivationOutput::Floating { .. } => {
                return Err(DerivationError::FloatingUnsupported(name.clone()))
            }
            _ => {}
        }
    }
    if fixed > 0 {
        if fixed != drv.outputs.len() {
            return Err(DerivationError::MixedOutputs);
        }
        // Only the content hash and the path matter for fixed outputs.
        let mut outputs = BTreeMap::new();
        for (name, out) in &drv.outputs {
            if let DerivationOutput::Fixed { path, method, hash } = out {
                let fp = format!(
                    "{}{}",
                    fixed_out_fingerprint(*method, hash),
                    store.print(path)
                );
                outputs.insert(name.clone(), Hash::digest(HashAlgo::Sha256, fp.as_bytes()));
            }
        }
        return Ok(DrvHashes { outputs });
    }

    // Replace each input derivation path by its modulo hash, so that
    // changes to a fixed-output input that keep its output do not
    // propagate.
    let mut inputs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, outs) in &drv.input_drvs {
        let hashes = input_hashes(path)?;
        for o in outs {
            let h = hashes
                .outputs
                .get(o)
                .ok_or_else(|| DerivationError::MissingOutput {
                    drv: store.print(path),
                    output: o.clone(),
                })?;
            inputs.entry(h.to_base16()).or_default().insert(o.clone());
        }
    }
    let text = drv.unparse(store, mask_outputs, Some(&inputs));
    let h = Hash::digest(HashAlgo::Sha256, text.as_bytes());
    Ok(DrvHashes {
        outputs: drv.outputs.keys().map(|k| (k.clone(), h.clone())).collect(),
    })
}

/// Remembers the modulo hashes of derivations by `.drv` path, so that
/// hashing a dependent does not re-hash its whole closure.
#[derive(Clone, Debug, Default)]
pub struct DrvHashCache {
    hashes: HashMap<StorePath, DrvHashes>,
    /// Derivations being hashed right now, so a loader that hands back a
    /// cycle gets an error instead of unbounded recursion.
    in_progress: HashSet<StorePath>,
}

impl DrvHashCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, drv_path: StorePath, hashes: DrvHashes) {
        self.hashes.insert(drv_path, hashes);
    }

    pub fn get(&self, drv_path: &StorePath) -> Option<&DrvHashes> {
        self.hashes.get(drv_path)
    }

    /// Modulo hashes of the derivation at `drv_path`; if not cached, it is
    /// loaded with `load` (e.g. from the caller's map of ATerms or from
    /// disk) and hashed, recursing into its inputs the same way.
    pub fn hashes_of(
        &mut self,
        store: &StoreDir,
        drv_path: &StorePath,
        load: &mut dyn FnMut(&StorePath) -> Result<Derivation, DerivationError>,
    ) -> Result<DrvHashes, DerivationError> {
        if let Some(h) = self.hashes.get(drv_path) {
            return Ok(h.clone());
        }
        if !self.in_progress.insert(drv_path.clone()) {
            return Err(DerivationError::Cycle(store.print(drv_path)));
        }
        let result = load(drv_path).and_then(|drv| {
            hash_derivation_modulo(store, &drv, false, &mut |p| {
                self.hashes_of(store, p, &mut *load)
            })
        });
        self.in_progress.remove(drv_path);
        let h = result?;
        self.hashes.insert(drv_path.clone(), h.clone());
        Ok(h)
    }

    /// [`derivation_strict`] resolving inputs through this cache (and
    /// `load` for misses), then remembering the new derivation's hashes.
    pub fn derivation_strict(
        &mut self,
        store: &StoreDir,
        spec: DerivationSpec,
        load: &mut dyn FnMut(&StorePath) -> Result<Derivation, DerivationError>,
    ) -> Result<BuiltDerivation, DerivationError> {
        let built = derivation_strict(store, spec, &mut |p| self.hashes_of(store, p, &mut *load))?;
        self.insert(built.drv_path.clone(), built.hashes.clone());
        Ok(built)
    }
}

/// Fixed-output settings as the attributes give them, unparsed, so the
/// error behaviour matches Nix's.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FixedOutputSpec {
    /// `outputHash`: any form [`Hash::parse`] accepts; "" means all-zero.
    pub hash: String,
    /// `outputHashAlgo`, if given. Unknown names are ignored as by Nix,
    /// so the hash must then carry its own algorithm.
    pub algo: Option<String>,
    /// `outputHashMode`: "flat" (default) or "recursive".
    pub mode: Option<String>,
}

/// What `derivationStrict` has after evaluating the attributes and their
/// string contexts.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DerivationSpec {
    /// `name`; the `.drv` is `<name>.drv`.
    pub name: String,
    pub system: String,
    pub builder: String,
    /// `args`, which (unlike every other attribute) is not put in env.
    pub args: Vec<String>,
    /// Every attribute except `args` (and `__ignoreNulls`, and nulls when
    /// that is set), coerced to a string: lists space-separated, true is
    /// "1", false and null are "". This includes `name`, `system`,
    /// `builder` and `outputs`. Output variables are filled in here.
    pub env: BTreeMap<String, String>,
    /// `outputs` in the given order; empty means the default `["out"]`.
    pub outputs: Vec<String>,
    pub fixed_output: Option<FixedOutputSpec>,
    pub input_srcs: BTreeSet<StorePath>,
    pub input_drvs: BTreeMap<StorePath, BTreeSet<String>>,
}

/// A derivation as `derivationStrict` leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltDerivation {
    pub drv: Derivation,
    pub drv_path: StorePath,
    /// Contents of the `.drv` file; keep it (by `drv_path`) to hash
    /// dependents later or to write the store.
    pub aterm: String,
    /// Output name → output path (`drvPath`'s siblings `outPath` etc.).
    pub outputs: BTreeMap<String, StorePath>,
    /// Modulo hashes for dependents.
    pub hashes: DrvHashes,
}

/// Computes output paths and the `.drv` path as C++ Nix's
/// `derivationStrict` does. `input_hashes` resolves input derivations to
/// their modulo hashes ([`DrvHashCache::derivation_strict`] wraps this).
pub fn derivation_strict(
    store: &StoreDir,
    spec: DerivationSpec,
    input_hashes: &mut dyn FnMut(&StorePath) -> Result<DrvHashes, DerivationError>,
) -> Result<BuiltDerivation, DerivationError> {
    if spec.name.ends_with(".drv") {
        return Err(DerivationError::NameEndsInDrv(spec.name));
    }
    let mut outputs = BTreeSet::new();
    for o in &spec.outputs {
        if o == "drv" {
            return Err(DerivationError::OutputNamedDrv);
        }
        if !outputs.insert(o.clone()) {
            return Err(DerivationError::DuplicateOutput(o.clone()));
        }
    }
    if outputs.is_empty() {
        outputs.insert("out".to_owned());
    }
    let method = match spec.fixed_output.as_ref().and_then(|f| f.mode.as_deref()) {
        None | Some("flat") => FileIngestionMethod::Flat,
        Some("recursive") => FileIngestionMethod::Recursive,
        Some(m) => return Err(DerivationError::BadHashMode(m.to_owned())),
    };
    if spec.builder.is_empty() {
        return Err(DerivationError::MissingAttr("builder"));
    }
    if spec.system.is_empty() {
        return Err(DerivationError::MissingAttr("system"));
    }
    // Fail early with a name error rather than on the first output path.
    crate::store_path::check_name(&format!("{}.drv", spec.name))?;

    let mut drv = Derivation {
        outputs: BTreeMap::new(),
        input_drvs: spec.input_drvs,
        input_srcs: spec.input_srcs,
        system: spec.system,
        builder: spec.builder,
        args: spec.args,
        env: spec.env,
    };

    if let Some(fixed) = &spec.fixed_output {
        if outputs.len() != 1 || !outputs.contains("out") {
            return Err(DerivationError::FixedOutputNotOut);
        }
        let algo = fixed.algo.as_deref().and_then(HashAlgo::parse_opt);
        let hash = Hash::parse_allow_empty(&fixed.hash, algo)?;
        let path =
            store.make_fixed_output_path(method, &hash, &spec.name, &BTreeSet::new(), false)?;
        drv.env.insert("out".to_owned(), store.print(&path));
        drv.outputs.insert(
            "out".to_owned(),
            DerivationOutput::Fixed { path, method, hash },
        );
    } else {
        // Hash with blank outputs, then fill in the paths that hash gives.
        for o in &outputs {
            drv.env.insert(o.clone(), String::new());
            drv.outputs.insert(o.clone(), DerivationOutput::Deferred);
        }
        let masked = hash_derivation_modulo(store, &drv, true, input_hashes)?;
        for o in &outputs {
            let h = masked
                .outputs
                .get(o)
                .ok_or_else(|| DerivationError::MissingOutput {
                    drv: spec.name.clone(),
                    output: o.clone(),
                })?;
            let path = store.make_output_path(o, h, &spec.name)?;
            drv.env.insert(o.clone(), store.print(&path));
            drv.outputs
                .insert(o.clone(), DerivationOutput::InputAddressed(path));
        }
    }

    let aterm = drv.to_aterm(store);
    let drv_path = store.text_path_for(
        &format!("{}.drv", spec.name),
        aterm.as_bytes(),
        &drv.references(),
    )?;
    let hashes = hash_derivation_modulo(store, &drv, false, input_hashes)?;
    let outputs = drv
        .outputs
        .iter()
        .filter_map(|(k, o)| o.path().map(|p| (k.clone(), p.clone())))
        .collect();
    Ok(BuiltDerivation {
        drv,
        drv_path,
        aterm,
        outputs,
        hashes,
    })
}

/// `builtins.placeholder`: `/` followed by the base-32 sha256 of
/// `nix-output:<output>`, which builders substitute with the real path.
pub fn placeholder(output: &str) -> String {
    let h = Hash::digest(HashAlgo::Sha256, format!("nix-output:{output}").as_bytes());
    format!("/{}", h.to_base32())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> DerivationSpec {
        let mut env = BTreeMap::new();
        env.insert("name".into(), name.into());
        env.insert("system".into(), "x86_64-linux".into());
        env.insert("builder".into(), "/bin/sh".into());
        DerivationSpec {
            name: name.into(),
            system: "x86_64-linux".into(),
            builder: "/bin/sh".into(),
            env,
            ..Default::default()
        }
    }

    fn no_inputs(p: &StorePath) -> Result<DrvHashes, DerivationError> {
        Err(DerivationError::UnknownInput(p.to_string()))
    }

    #[test]
    fn aterm_round_trip_with_escapes() {
        let sd = StoreDir::default();
        let mut s = spec("esc");
        s.env
            .insert("weird".into(), "a\"b\\c\nd\re\tf\u{1}é".into());
        s.args = vec!["-c".into(), "echo \"hi\"\n".into()];
        let b = derivation_strict(&sd, s, &mut no_inputs).expect("valid");
        assert!(
            b.aterm.contains(r#"("weird","a\"b\\c\nd\re\tf"#),
            "{}",
            b.aterm
        );
        let back = Derivation::parse(&sd, &b.aterm).expect("parses");
        assert_eq!(back, b.drv);
        assert_eq!(back.to_aterm(&sd), b.aterm);
    }

    #[test]
    fn parse_errors_do_not_panic() {
        let sd = StoreDir::default();
        let b = derivation_strict(&sd, spec("p"), &mut no_inputs).expect("valid");
        for cut in 0..b.aterm.len() {
            if b.aterm.is_char_boundary(cut) {
                assert!(Derivation::parse(&sd, &b.aterm[..cut]).is_err());
            }
        }
        assert!(Derivation::parse(&sd, &format!("{} ", b.aterm)).is_err());
        assert!(Derivation::parse(
            &sd,
            "Derive([(\"out\",\"/tmp/x\",\"\",\"\")],[],[],\"\",\"\",[],[])"
        )
        .is_err());
    }

    #[test]
    fn output_checks() {
        let sd = StoreDir::default();
        let mut s = spec("a");
        s.outputs = vec!["out".into(), "out".into()];
        assert_eq!(
            derivation_strict(&sd, s, &mut no_inputs).err(),
            Some(DerivationError::DuplicateOutput("out".into()))
        );
        let mut s = spec("a");
        s.outputs = vec!["drv".into()];
        assert_eq!(
            derivation_strict(&sd, s, &mut no_inputs).err(),
            Some(DerivationError::OutputNamedDrv)
        );
        let s = spec("a.drv");
        assert!(matches!(
            derivation_strict(&sd, s, &mut no_inputs),
            Err(DerivationError::NameEndsInDrv(_))
        ));
        let mut s = spec("a");
        s.builder.clear();
        assert_eq!(
            derivation_strict(&sd, s, &mut no_inputs).err(),
            Some(DerivationError::MissingAttr("builder"))
        );
        let mut s = spec("a");
        s.outputs = vec!["out".into(), "dev".into()];
        s.fixed_output = Some(FixedOutputSpec {
            hash: String::new(),
            algo: Some("sha256".into()),
            mode: None,
        });
        assert_eq!(
            derivation_strict(&sd, s, &mut no_inputs).err(),
            Some(DerivationError::FixedOutputNotOut)
        );
        let mut s = spec("a");
        s.fixed_output = Some(FixedOutputSpec {
            hash: String::new(),
            algo: Some("sha256".into()),
            mode: Some("text".into()),
        });
        assert!(matches!(
            derivation_strict(&sd, s, &mut no_inputs),
            Err(DerivationError::BadHashMode(_))
        ));
        let mut s = spec("a b");
        s.env.clear();
        assert!(matches!(
            derivation_strict(&sd, s, &mut no_inputs),
            Err(DerivationError::StorePath(_))
        ));
    }

    #[test]
    fn multiple_outputs_get_suffixes() {
        let sd = StoreDir::default();
        let mut s = spec("m");
        s.outputs = vec!["out".into(), "dev".into()];
        let b = derivation_strict(&sd, s, &mut no_inputs).expect("valid");
        assert_eq!(b.outputs["out"].name(), "m");
        assert_eq!(b.outputs["dev"].name(), "m-dev");
        assert_eq!(b.drv.env["dev"], sd.print(&b.outputs["dev"]));
        assert_eq!(b.hashes.outputs["out"], b.hashes.outputs["dev"]);
    }

    #[test]
    fn fixed_output_hash_ignores_builder() {
        // Two fixed-output derivations with the same hash and name but
        // different builders have the same modulo hash and output path.
        let sd = StoreDir::default();
        let fixed = FixedOutputSpec {
            hash: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(),
            algo: None,
            mode: Some("recursive".into()),
        };
        let mut a = spec("f");
        a.fixed_output = Some(fixed.clone());
        let mut b = spec("f");
        b.builder = "/bin/other".into();
        b.fixed_output = Some(fixed);
        let a = derivation_strict(&sd, a, &mut no_inputs).expect("valid");
        let b = derivation_strict(&sd, b, &mut no_inputs).expect("valid");
        assert_ne!(a.drv_path, b.drv_path);
        assert_eq!(a.outputs, b.outputs);
        assert_eq!(a.hashes, b.hashes);
    }

    #[test]
    fn cache_resolves_inputs() {
        let sd = StoreDir::default();
        let mut cache = DrvHashCache::new();
        let mut atoms: HashMap<StorePath, String> = HashMap::new();
        let dep = cache
            .derivation_strict(&sd, spec("dep"), &mut |p| {
                Err(DerivationError::UnknownInput(p.to_string()))
            })
            .expect("valid");
        atoms.insert(dep.drv_path.clone(), dep.aterm.clone());
        let mut top = spec("top");
        top.input_drvs
            .insert(dep.drv_path.clone(), ["out".to_owned()].into());
        let via_cache = cache
            .derivation_strict(&sd, top.clone(), &mut |p| {
                Err(DerivationError::UnknownInput(p.to_string()))
            })
            .expect("valid");
        // A fresh cache must load the input's ATerm and agree.
        let mut fresh = DrvHashCache::new();
        let via_load = fresh
            .derivation_strict(&sd, top.clone(), &mut |p| {
                let t = atoms
                    .get(p)
                    .ok_or_else(|| DerivationError::UnknownInput(p.to_string()))?;
                Derivation::parse(&sd, t)
            })
            .expect("valid");
        assert_eq!(via_cache, via_load);
        // And without any way to resolve the input it is an error.
        assert!(matches!(
            derivation_strict(&sd, top, &mut no_inputs),
            Err(DerivationError::UnknownInput(_))
        ));
    }

    #[test]
    fn cycles_are_errors() {
        let sd = StoreDir::default();
        let b = derivation_strict(&sd, spec("c"), &mut no_inputs).expect("valid");
        // A loader that claims the derivation depends on itself.
        let mut looped = b.drv.clone();
        looped
            .input_drvs
            .insert(b.drv_path.clone(), ["out".to_owned()].into());
        let mut cache = DrvHashCache::new();
        let r = cache.hashes_of(&sd, &b.drv_path, &mut |_| Ok(looped.clone()));
        assert!(matches!(r, Err(DerivationError::Cycle(_))));
    }

    #[test]
    fn placeholder_shape() {
        let p = placeholder("out");
        assert_eq!(p.len(), 53);
        assert!(p.starts_with('/'));
    }
}
