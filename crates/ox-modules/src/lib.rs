//! `ox-modules`: ox's nixpkgs-compatible `lib` and the NixOS module
//! system, implemented natively on top of `ox-eval`.
//!
//! It owns `lib.evalModules` (module collection, option declarations and
//! definitions, properties and priorities, the lazy `config` fixpoint,
//! error texts), `lib.types`, the hot `lib` helpers, and the `<ox>`
//! search-path entry (`nixdir`: the repository's `nix/` tree embedded in
//! the binary). The Nix side of `lib` is `nix/lib/default.nix`; it
//! reaches the native parts through `builtins.ox`, which `install` adds
//! through ox-eval's extension point (`Eval::add_builtin`).
//!
//! It must not know about hosts, packages, the store or activation: those
//! are modules and consumers built on what it evaluates.

pub mod docs;
pub mod modules;
pub mod nixdir;
pub mod share;
pub mod types;
pub mod util;

use ox_eval::error::Span;
use ox_eval::{Eval, Result, Value};

use util::*;

/// Add `builtins.ox` (the native half of `lib`) to an evaluator.
pub fn install(ev: &mut Eval) {
    ev.add_builtin("ox", native_set());
}

/// An evaluator configured the way `ox` commands use it: `builtins.ox`
/// installed and `<ox>` on the search path after the given entries.
pub fn settings_with_ox(mut settings: ox_eval::Settings) -> ox_eval::Settings {
    if !settings.search_path.iter().any(|(p, _)| p == "ox") {
        nixdir::add_to_search_path(&mut settings.search_path);
    }
    settings
}

fn p_eval_modules(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    modules::eval_modules(ev, a[0].clone(), a[1].clone(), false)
}

fn p_to_pretty(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let o = force_attrs(ev, &a[0], "the options of lib.generators.toPretty")?;
    let ml = match o.get("multiline") {
        Some(m) => force_bool(ev, m, "multiline")?,
        None => true,
    };
    Ok(s(to_pretty(ev, &a[1], ml)?))
}

fn p_show_defs(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let defs = defs_from_list(ev, &a[0])?;
    Ok(s(show_defs(ev, &defs)))
}

fn p_show_option(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let loc = loc_from_value(ev, &a[0])?;
    Ok(s(show_option(&loc)))
}

fn p_merge_definitions(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    // loc type defs -> { mergedValue; isDefined; defsFinal; optionalValue }
    let loc = loc_from_value(ev, &a[0])?;
    let defs = defs_from_list(ev, &a[2])?;
    let raws: Vec<modules::RawDef> = defs.iter().map(modules::RawDef::plain).collect();
    let m = modules::discharge_all(ev, &raws)?;
    let defined = !m.defs.is_empty();
    let merged = match modules::merge_definitions(ev, &loc, &a[1], &raws)? {
        Some(v) => v,
        None => {
            let l = show_option(&loc);
            lazy(move |_| {
                throw(format!(
                    "The option `{}' was accessed but has no value defined. Try setting the option.",
                    l
                ))
            })
        }
    };
    Ok(attrs(vec![
        ("isDefined", Value::Bool(defined)),
        ("mergedValue", merged.clone()),
        ("defsFinal", defs_to_list(&m.defs)),
        (
            "optionalValue",
            if defined {
                attrs(vec![("value", merged)])
            } else {
                attrs(vec![])
            },
        ),
    ]))
}

thread_local! {
    static OPTION_TAG: Value = s("option");
}

/// `lib.mkOption`: `attrs // { _type = "option"; }` for an argument with
/// only mkOption's attributes, as nixpkgs' function with formals (a
/// configuration calls it thousands of times: natively it costs a few
/// percent of what a Nix call with ten defaulted formals does).
fn p_mk_option(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    const FORMALS: &[&str] = modules::MK_OPTION_ARGS;
    let x = match ev.force(a[0].clone())? {
        Value::Attrs(x) => x,
        o => {
            return Err(ox_eval::EvalError::new(
                ox_eval::error::ErrorKind::Type,
                format!(
                    "value is {} while a set was expected (as the argument of function 'mkOption')",
                    o.type_name()
                ),
                Some(span),
            ))
        }
    };
    for (k, _) in x.entries() {
        if !FORMALS.contains(k) {
            let mut e = ox_eval::EvalError::new(
                ox_eval::error::ErrorKind::Type,
                format!(
                    "function 'mkOption' called with unexpected argument '{}'",
                    k
                ),
                Some(span),
            );
            e.hint =
                ox_eval::eval::did_you_mean(k, FORMALS.iter().copied().filter(|n| !x.contains(n)));
            return Err(e);
        }
    }
    Ok(Value::attrs(ox_eval::value::Attrs::update(
        &x,
        &ox_eval::value::Attrs::from_sorted(vec![(key("_type"), OPTION_TAG.with(|t| t.clone()))]),
    )))
}

fn native_set() -> Value {
    attrs(vec![
        ("mkOption", prim("mkOption", 1, p_mk_option)),
        ("evalModules", prim("evalModules", 2, p_eval_modules)),
        ("types", types::types_set()),
        ("toPretty", prim("toPretty", 2, p_to_pretty)),
        ("showDefs", prim("showDefs", 1, p_show_defs)),
        ("showOption", prim("showOption", 1, p_show_option)),
        (
            "mergeDefinitions",
            prim("mergeDefinitions", 3, p_merge_definitions),
        ),
        (
            "mergeEqualOption",
            prim("mergeEqualOption", 2, types::merge_equal),
        ),
        (
            "mergeOneOption",
            prim("mergeOneOption", 2, types::merge_one),
        ),
        ("version", s(env!("CARGO_PKG_VERSION"))),
    ])
}
