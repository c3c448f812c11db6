//! Realising evaluation results in ox's on-disk store.
//!
//! This crate owns the step between the evaluator and the store: it
//! writes what an evaluation decided belongs in the store
//! (`Eval::store_writes`: `toFile` texts and copied sources;
//! `Eval::drvs`: `.drv` files) into an [`ox_localstore::Store`], finds
//! the derivations a value stands for (a derivation, a list or set of
//! them, a string with context), and realises them.
//!
//! It must not know about modules, hosts or activation; `ox build` for
//! hosts calls [`realise_value`] / [`realise_strings`] with the toplevel.

pub mod debian;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ox_eval::{Eval, StoreObject, Value};
use ox_localstore::{BuildOptions, BuildOutcome, Store, StoreError};
use ox_store::{FileIngestionMethod, StorePath};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Store(#[from] StoreError),
    /// An evaluation error (render it with `ox_eval::render`).
    #[error("evaluation failed: {}", .0.msg)]
    Eval(Box<ox_eval::EvalError>),
    #[error("{0}")]
    Other(String),
}

impl From<Box<ox_eval::EvalError>> for BuildError {
    fn from(e: Box<ox_eval::EvalError>) -> Self {
        BuildError::Eval(e)
    }
}

pub type Result<T> = std::result::Result<T, BuildError>;

/// Settings for an evaluator whose store paths match `store`.
pub fn eval_settings_for(store: &Store, mut base: ox_eval::Settings) -> ox_eval::Settings {
    base.store_dir = store.dir.as_str().to_string();
    base
}

/// Writes `roots` and everything they refer to that this evaluation
/// produced (sources, texts, `.drv` files) into the store. Paths neither
/// produced here nor already valid are an error.
pub fn write_eval_results(store: &Store, ev: &Eval, roots: &BTreeSet<String>) -> Result<()> {
    if store.dir.as_str() != ev.settings.store_dir {
        return Err(BuildError::Other(format!(
            "the evaluation computed paths for store '{}' but the store is '{}'",
            ev.settings.store_dir,
            store.dir.as_str()
        )));
    }
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.iter().cloned().collect();
    let mut sources = Vec::new();
    let mut texts = Vec::new();
    while let Some(p) = todo.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        let sp = store.parse(&p)?;
        if let Some(rec) = ev.drvs.get(&p) {
            todo.extend(rec.refs.iter().cloned());
            texts.push((
                sp,
                rec.aterm.clone().into_bytes(),
                parse_all(store, &rec.refs)?,
            ));
        } else if let Some(obj) = ev.store_writes.get(&p) {
            match obj {
                StoreObject::Text { contents, refs, .. } => {
                    todo.extend(refs.iter().cloned());
                    texts.push((sp, contents.clone().into_bytes(), parse_all(store, refs)?));
                }
                StoreObject::Source {
                    name,
                    path,
                    recursive,
                    excluded,
                } => sources.push((sp, name, path, *recursive, excluded)),
            }
        } else if !store.is_valid(&sp)? {
            return Err(BuildError::Other(format!(
                "'{p}' is neither produced by this evaluation nor valid in the store"
            )));
        }
    }
    for (sp, name, path, recursive, excluded) in sources {
        let excluded: BTreeSet<&Path> = excluded.iter().map(Path::new).collect();
        let method = if recursive {
            FileIngestionMethod::Recursive
        } else {
            FileIngestionMethod::Flat
        };
        store
            .add_source(
                Path::new(path),
                name,
                method,
                &|p| excluded.contains(p),
                Some(&sp),
            )
            .map_err(|e| match e {
                StoreError::HashMismatch { .. } => {
                    BuildError::Other(format!("'{path}' changed since it was evaluated ({e})"))
                }
                e => e.into(),
            })?;
    }
    // `add_texts` checks each path against its contents and references
    // and registers them all in one transaction.
    store.add_texts(&texts)?;
    Ok(())
}

fn parse_all(store: &Store, paths: &BTreeSet<String>) -> Result<BTreeSet<StorePath>> {
    paths
        .iter()
        .map(|p| store.parse(p).map_err(BuildError::from))
        .collect()
}

/// One thing to build, found in a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// A derivation; `output` is the one the value selected (`out`, …).
    Drv { drv: String, output: String },
    /// A plain store path (a source or text), e.g. from a string context.
    Path(String),
}

/// What `ox build` builds for a value, like `nix-build`: a derivation;
/// each element of a list; each derivation attribute of a set (one
/// level); the string context of a string.
pub fn wanted(ev: &mut Eval, v: Value) -> Result<Vec<Wanted>> {
    let v = ev.force(v)?;
    let mut out = Vec::new();
    match &v {
        Value::Attrs(a) => {
            if let Some(w) = derivation_of(ev, a)? {
                out.push(w);
            } else {
                for (_, x) in a.entries().iter() {
                    let x = ev.force(x.clone())?;
                    if let Value::Attrs(b) = &x {
                        if let Some(w) = derivation_of(ev, b)? {
                            out.push(w);
                        }
                    }
                }
            }
        }
        Value::List(l) => {
            for x in l.iter() {
                out.extend(wanted(ev, x.clone())?);
            }
        }
        Value::Str(s) => {
            for c in s.ctx.iter().flat_map(|c| c.iter()) {
                if let Some(d) = c.strip_prefix('=') {
                    out.push(Wanted::Drv {
                        drv: d.to_string(),
                        output: "out".into(),
                    });
                } else if let Some(rest) = c.strip_prefix('!') {
                    if let Some((o, d)) = rest.split_once('!') {
                        out.push(Wanted::Drv {
                            drv: d.to_string(),
                            output: o.to_string(),
                        });
                    }
                } else {
                    out.push(Wanted::Path(c.clone()));
                }
            }
        }
        other => {
            return Err(BuildError::Other(format!(
                "expected a derivation, a list or set of derivations, or a string with context, but got {}",
                other.type_name()
            )))
        }
    }
    Ok(out)
}

fn derivation_of(ev: &mut Eval, a: &ox_eval::value::Attrs) -> Result<Option<Wanted>> {
    if !ev.is_derivation(a)? {
        return Ok(None);
    }
    let str_attr = |ev: &mut Eval, k: &str| -> Result<Option<String>> {
        match a.get(k) {
            None => Ok(None),
            Some(v) => match ev.force(v.clone())? {
                Value::Str(s) => Ok(Some(s.s.clone())),
                other => Err(BuildError::Other(format!(
                    "the derivation's '{k}' is {} instead of a string",
                    other.type_name()
                ))),
            },
        }
    };
    let drv = str_attr(ev, "drvPath")?
        .ok_or_else(|| BuildError::Other("derivation without a 'drvPath'".into()))?;
    let output = str_attr(ev, "outputName")?.unwrap_or_else(|| "out".into());
    Ok(Some(Wanted::Drv { drv, output }))
}

/// One realised thing: the selected output path, and all outputs of its
/// derivation.
#[derive(Clone, Debug)]
pub struct Realised {
    pub drv: Option<String>,
    pub output: String,
    pub path: String,
    pub outputs: BTreeMap<String, String>,
}

/// Writes what `wanted` needs into the store and builds it.
pub fn realise_wanted(
    store: &Store,
    ev: &Eval,
    wanted: &[Wanted],
    opts: &BuildOptions,
) -> Result<(Vec<Realised>, BuildOutcome)> {
    let roots: BTreeSet<String> = wanted
        .iter()
        .map(|w| match w {
            Wanted::Drv { drv, .. } => drv.clone(),
            Wanted::Path(p) => p.clone(),
        })
        .collect();
    // Keep the garbage collector out from writing to building.
    let _gc_guard = store.build_lock()?;
    write_eval_results(store, ev, &roots)?;
    let mut drvs = Vec::new();
    for w in wanted {
        if let Wanted::Drv { drv, .. } = w {
            let d = store.parse(drv)?;
            if !drvs.contains(&d) {
                drvs.push(d);
            }
        }
    }
    let outcome = store.realise(&drvs, opts)?;
    let mut res = Vec::new();
    for w in wanted {
        match w {
            Wanted::Drv { drv, output } => {
                let d = store.parse(drv)?;
                let outs = &outcome.outputs[&d];
                let p = outs.get(output).ok_or_else(|| {
                    BuildError::Other(format!("derivation '{drv}' has no output '{output}'"))
                })?;
                res.push(Realised {
                    drv: Some(drv.clone()),
                    output: output.clone(),
                    path: store.print(p),
                    outputs: outs
                        .iter()
                        .map(|(k, v)| (k.clone(), store.print(v)))
                        .collect(),
                });
            }
            Wanted::Path(p) => res.push(Realised {
                drv: None,
                output: "out".into(),
                path: p.clone(),
                outputs: BTreeMap::from([("out".to_string(), p.clone())]),
            }),
        }
    }
    Ok((res, outcome))
}

/// The library entry point: builds what `value` stands for and returns
/// the selected output paths (see [`wanted`]). `ev` must have evaluated
/// `value` with `eval_settings_for(store, …)`.
pub fn realise_value(
    store: &Store,
    ev: &mut Eval,
    value: Value,
    opts: &BuildOptions,
) -> Result<Vec<Realised>> {
    let w = wanted(ev, value)?;
    Ok(realise_wanted(store, ev, &w, opts)?.0)
}

/// Builds everything the string contexts of `strings` refer to (e.g. a
/// toplevel's `"${config.system.build.toplevel}"`).
pub fn realise_strings(
    store: &Store,
    ev: &mut Eval,
    strings: &[Value],
    opts: &BuildOptions,
) -> Result<Vec<Realised>> {
    let mut w = Vec::new();
    for s in strings {
        w.extend(wanted(ev, s.clone())?);
    }
    Ok(realise_wanted(store, ev, &w, opts)?.0)
}
