//! `lib.types`: option types as nixpkgs shapes them (attribute sets with
//! `name`, `description`, `check`, `merge`, …) whose `check` and `merge`
//! are native primops applied to the type's payload.
//!
//! Besides nixpkgs' attributes every ox type carries `_oxKind` and
//! `_oxPayload`, which `merge_types` uses to merge declarations of the
//! same option (submodules concatenate their modules, enums unite).

use std::cell::RefCell;
use std::rc::Rc;

use rustc_hash::{FxHashMap, FxHashSet};

use ox_eval::error::Span;
use ox_eval::value::{sym, Attrs, Sym};
use ox_eval::{Eval, Result, Value};

use crate::modules::{self, RawDef};
use crate::util::*;

fn no_sub_options(_ev: &mut Eval, _a: &[Value], _s: Span) -> Result<Value> {
    Ok(attrs(vec![]))
}
fn no_sub_modules(_ev: &mut Eval, _a: &[Value], _s: Span) -> Result<Value> {
    Ok(Value::Null)
}

pub struct T {
    pub name: String,
    pub description: String,
    pub class: &'static str,
    pub check: Value,
    pub merge: Value,
    pub kind: &'static str,
    pub payload: Value,
    pub empty: Option<Value>,
    pub nested: Vec<(&'static str, Value)>,
    pub extra: Vec<(&'static str, Value)>,
}

impl T {
    fn new(name: &str, description: impl Into<String>, check: Value, merge: Value) -> T {
        T {
            name: name.into(),
            description: description.into(),
            class: "noun",
            check,
            merge,
            kind: "simple",
            payload: Value::Null,
            empty: None,
            nested: Vec::new(),
            extra: Vec::new(),
        }
    }
    fn build(self) -> Value {
        // Types are built per use (a submodule element declares its
        // options again): constant parts are shared and the entries are
        // written in sorted order.
        TYPE_PARTS.with(|c| {
            let nested = attrs(self.nested.clone());
            let functor = Value::attrs(Attrs::from_sorted(vec![
                (c.binop, Value::Null),
                (c.name, s(&self.name)),
                (c.payload, self.payload.clone()),
                (c.type_, Value::Null),
                (
                    c.wrapped,
                    self.nested
                        .first()
                        .map(|x| x.1.clone())
                        .unwrap_or(Value::Null),
                ),
            ]));
            let mut e: Vec<(Sym, Value)> = Vec::with_capacity(16 + self.extra.len());
            e.extend([
                (c.ox_kind, s(self.kind)),
                (c.ox_payload, self.payload),
                (c.type_tag, c.option_type.clone()),
                (c.check, self.check),
                (c.deprecation, Value::Null),
                (c.description, s(&self.description)),
                (c.description_class, s(self.class)),
                (
                    c.empty_value,
                    match self.empty {
                        Some(v) => Value::attrs(Attrs::from_sorted(vec![(c.value, v)])),
                        None => c.empty.clone(),
                    },
                ),
                (c.functor, functor),
                (c.get_sub_modules, Value::Null),
                (c.get_sub_options, c.no_sub_options.clone()),
                (c.merge, self.merge),
                (c.name, s(&self.name)),
                (c.nested_types, nested),
                (c.subst_sub_modules, c.no_sub_modules.clone()),
                (c.type_merge, c.type_merge_prim.clone()),
            ]);
            debug_assert!(e.windows(2).all(|w| w[0].0 < w[1].0));
            for (k, v) in self.extra {
                match e.binary_search_by(|(n, _)| (**n).cmp(k)) {
                    Ok(i) => e[i].1 = v,
                    Err(i) => e.insert(i, (key(k), v)),
                }
            }
            Value::attrs(Attrs::from_sorted(e))
        })
    }
}

/// Interned names and constant values of every type set (`T::build`).
struct TypeParts {
    binop: Sym,
    name: Sym,
    payload: Sym,
    type_: Sym,
    wrapped: Sym,
    ox_kind: Sym,
    ox_payload: Sym,
    type_tag: Sym,
    check: Sym,
    deprecation: Sym,
    description: Sym,
    description_class: Sym,
    empty_value: Sym,
    functor: Sym,
    get_sub_modules: Sym,
    get_sub_options: Sym,
    merge: Sym,
    nested_types: Sym,
    subst_sub_modules: Sym,
    type_merge: Sym,
    value: Sym,
    option_type: Value,
    empty: Value,
    no_sub_options: Value,
    no_sub_modules: Value,
    type_merge_prim: Value,
}

thread_local! {
    static TYPE_PARTS: TypeParts = TypeParts {
        binop: sym("binOp"),
        name: sym("name"),
        payload: sym("payload"),
        type_: sym("type"),
        wrapped: sym("wrapped"),
        ox_kind: sym("_oxKind"),
        ox_payload: sym("_oxPayload"),
        type_tag: sym("_type"),
        check: sym("check"),
        deprecation: sym("deprecationMessage"),
        description: sym("description"),
        description_class: sym("descriptionClass"),
        empty_value: sym("emptyValue"),
        functor: sym("functor"),
        get_sub_modules: sym("getSubModules"),
        get_sub_options: sym("getSubOptions"),
        merge: sym("merge"),
        nested_types: sym("nestedTypes"),
        subst_sub_modules: sym("substSubModules"),
        type_merge: sym("typeMerge"),
        value: sym("value"),
        option_type: s("option-type"),
        empty: attrs(vec![]),
        no_sub_options: prim("getSubOptions", 1, no_sub_options),
        no_sub_modules: prim("substSubModules", 1, no_sub_modules),
        type_merge_prim: prim("typeMerge", 1, no_sub_modules),
    };
}

fn get_type_attr(ev: &mut Eval, t: &Value, k: &str) -> Result<Value> {
    let a = force_attrs(ev, t, "an option type")?;
    Ok(a.get(k).cloned().unwrap_or(Value::Null))
}

pub fn description(ev: &mut Eval, t: &Value) -> Result<String> {
    let d = get_type_attr(ev, t, "description")?;
    match ev.force(d)? {
        Value::Null => {
            let n = get_type_attr(ev, t, "name")?;
            force_str(ev, &n, "a type name")
        }
        d => force_str(ev, &d, "a type description"),
    }
}

fn kind(ev: &mut Eval, t: &Value) -> Result<String> {
    let a = force_attrs(ev, t, "an option type")?;
    match a.get("_oxKind") {
        Some(k) => force_str(ev, k, "a type kind"),
        None => Ok(String::new()),
    }
}

pub fn is_submodule(ev: &mut Eval, t: &Value) -> Result<bool> {
    Ok(kind(ev, t)? == "submodule")
}

/// nixpkgs' `optionDescriptionPhrase`: parenthesise unless the class fits.
fn phrase(ev: &mut Eval, t: &Value, ok: &[&str]) -> Result<String> {
    let d = description(ev, t)?;
    let c = get_type_attr(ev, t, "descriptionClass")?;
    let c = match ev.force(c)? {
        Value::Str(x) => x.s.clone(),
        _ => String::new(),
    };
    Ok(if ok.contains(&c.as_str()) {
        d
    } else {
        format!("({})", d)
    })
}

// ----------------------------------------------------------------------
// Checks

macro_rules! simple_check {
    ($name:ident, |$ev:ident, $x:ident| $body:expr) => {
        fn $name($ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
            // (mostly a value already: checked in place, no clone)
            let v = &a[a.len() - 1];
            let forced;
            let $x: &Value = if let Value::Thunk(_) = v {
                forced = $ev.force(v.clone())?;
                &forced
            } else {
                v
            };
            Ok(Value::Bool($body))
        }
    };
}

simple_check!(check_bool, |ev, x| matches!(x, Value::Bool(_)));
simple_check!(check_int, |ev, x| matches!(x, Value::Int(_)));
simple_check!(check_float, |ev, x| matches!(x, Value::Float(_)));
simple_check!(check_number, |ev, x| matches!(
    x,
    Value::Int(_) | Value::Float(_)
));
simple_check!(check_str, |ev, x| matches!(x, Value::Str(_)));
simple_check!(
    check_nonempty_str,
    |ev, x| matches!(&x, Value::Str(s) if !s.s.trim().is_empty())
);
simple_check!(
    check_single_line,
    |ev, x| matches!(&x, Value::Str(s) if !s.s.trim_end_matches('\n').contains('\n') && s.s.matches('\n').count() <= 1)
);
simple_check!(check_list, |ev, x| matches!(x, Value::List(_)));
simple_check!(check_attrs, |ev, x| matches!(x, Value::Attrs(_)));
simple_check!(check_true, |ev, x| {
    let _ = x;
    true
});
simple_check!(check_function, |ev, x| x.is_function()
    || matches!(&x, Value::Attrs(a) if a.contains("__functor")));
simple_check!(check_module, |ev, x| matches!(
    x,
    Value::Attrs(_) | Value::Path(_) | Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_)
) || matches!(&x, Value::Str(s) if s.s.starts_with('/')));
simple_check!(check_option_type, |ev, x| type_tag(x).as_deref()
    == Some("option-type"));

fn check_path(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = ev.force(a[0].clone())?;
    Ok(Value::Bool(match &x {
        Value::Path(_) => true,
        Value::Str(s) => s.s.starts_with('/'),
        Value::Attrs(a) => a.contains("outPath") || a.contains("__toString"),
        _ => false,
    }))
}

fn check_package(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = ev.force(a[0].clone())?;
    Ok(Value::Bool(match &x {
        Value::Attrs(a) => match a.get("type") {
            Some(t) => matches!(ev.force(t.clone())?, Value::Str(s) if s.s == "derivation"),
            None => a.contains("outPath"),
        },
        Value::Str(s) => s.s.starts_with(&ev.settings.store_dir),
        Value::Path(p) => p.starts_with(&ev.settings.store_dir),
        _ => false,
    }))
}

fn check_int_range(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = ev.force(a[2].clone())?;
    let lo = ev.force(a[0].clone())?;
    let hi = ev.force(a[1].clone())?;
    Ok(Value::Bool(match (&x, &lo, &hi) {
        (Value::Int(x), lo, hi) => {
            let ok_lo = match lo {
                Value::Int(l) => x >= l,
                _ => true,
            };
            let ok_hi = match hi {
                Value::Int(h) => x <= h,
                _ => true,
            };
            ok_lo && ok_hi
        }
        _ => false,
    }))
}

fn check_float_range(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = ev.force(a[2].clone())?;
    let f = match x {
        Value::Int(i) => i as f64,
        Value::Float(f) => f,
        _ => return Ok(Value::Bool(false)),
    };
    let lo = ev.force(a[0].clone())?;
    let hi = ev.force(a[1].clone())?;
    let num = |v: &Value| match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    let ok = num(&lo).map(|l| f >= l).unwrap_or(true) && num(&hi).map(|h| f <= h).unwrap_or(true);
    Ok(Value::Bool(ok))
}

fn check_str_matching(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = ev.force(a[1].clone())?;
    let re = force_str(ev, &a[0], "strMatching pattern")?;
    Ok(Value::Bool(match &x {
        Value::Str(st) => {
            let r = ev.globals.get("builtins").cloned().unwrap_or(Value::Null);
            let b = force_attrs(ev, &r, "builtins")?;
            let m = b.get("match").cloned().unwrap_or(Value::Null);
            let res = ev.call2(m, s(re), Value::Str(st.clone()), None)?;
            !matches!(ev.force(res)?, Value::Null)
        }
        _ => false,
    }))
}

fn check_enum(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let vals = force_list(ev, &a[0], "enum values")?;
    let x = ev.force(a[1].clone())?;
    for v in vals.iter() {
        let v = ev.force(v.clone())?;
        if std::mem::discriminant(&v) == std::mem::discriminant(&x)
            && ev.equal(v, x.clone(), span)?
        {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn call_check(ev: &mut Eval, t: &Value, x: Value) -> Result<bool> {
    let c = get_type_attr(ev, t, "check")?;
    let r = ev.call(c, x, None)?;
    force_bool(ev, &r, "the result of a type's check")
}

fn check_null_or(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = ev.force(a[1].clone())?;
    if matches!(x, Value::Null) {
        return Ok(Value::Bool(true));
    }
    Ok(Value::Bool(call_check(ev, &a[0], x)?))
}

fn check_either(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = a[2].clone();
    Ok(Value::Bool(
        call_check(ev, &a[0], x.clone())? || call_check(ev, &a[1], x)?,
    ))
}

fn check_coerced(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    // from, f, to, x
    let x = a[3].clone();
    if call_check(ev, &a[2], x.clone())? {
        return Ok(Value::Bool(true));
    }
    if call_check(ev, &a[0], x.clone())? {
        let c = ev.call(a[1].clone(), x, None)?;
        return Ok(Value::Bool(call_check(ev, &a[2], c)?));
    }
    Ok(Value::Bool(false))
}

fn check_elem(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    Ok(Value::Bool(call_check(ev, &a[0], a[1].clone())?))
}

fn check_add(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    if !call_check(ev, &a[0], a[2].clone())? {
        return Ok(Value::Bool(false));
    }
    let r = ev.call(a[1].clone(), a[2].clone(), None)?;
    Ok(Value::Bool(force_bool(
        ev,
        &r,
        "the result of addCheck's function",
    )?))
}

fn check_nonempty_list(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = ev.force(a[0].clone())?;
    Ok(Value::Bool(matches!(&x, Value::List(l) if !l.is_empty())))
}

// ----------------------------------------------------------------------
// Merges. Every merge primop takes its payload first, then `loc defs`.

fn loc_defs(ev: &mut Eval, a: &[Value]) -> Result<(Loc, Vec<Def>)> {
    let n = a.len();
    Ok((
        loc_from_value(ev, &a[n - 2])?,
        defs_from_list(ev, &a[n - 1])?,
    ))
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_equal(ev: &mut Eval, a: &[Value], loc: &[Sym], defs: &[Def], span: Span) -> Result<Value> {
    merge_equal_defs(ev, loc, defs, span)
}

fn merge_equal_defs(ev: &mut Eval, loc: &[Sym], defs: &[Def], span: Span) -> Result<Value> {
    if defs.len() == 1 {
        return ev.force(defs[0].value.clone());
    }
    let first = &defs[0];
    for d in &defs[1..] {
        let a = ev.force(first.value.clone())?;
        let b = ev.force(d.value.clone())?;
        let same = if a.is_function() || b.is_function() {
            false
        } else {
            ev.equal(a, b, span)?
        };
        if !same {
            let shown = show_defs(ev, &[first.clone(), d.clone()]);
            return Err(ox_eval::EvalError::new(
                ox_eval::error::ErrorKind::Throw,
                format!(
                    "The option `{}' has conflicting definition values:{}\n{}",
                    show_option(loc),
                    shown,
                    PRIORITY_SUGGESTION
                ),
                d.pos.or(first.pos),
            ));
        }
    }
    ev.force(first.value.clone())
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_one(ev: &mut Eval, a: &[Value], loc: &[Sym], defs: &[Def], _span: Span) -> Result<Value> {
    unique_defs(ev, loc, defs, "")
}

fn unique_defs(ev: &mut Eval, loc: &[Sym], defs: &[Def], message: &str) -> Result<Value> {
    if defs.len() == 1 {
        return ev.force(defs[0].value.clone());
    }
    let shown = show_defs(ev, defs);
    Err(ox_eval::EvalError::new(
        ox_eval::error::ErrorKind::Throw,
        format!(
            "The option `{}' is defined multiple times while it's expected to be unique.\n{}\nDefinition values:{}\n{}",
            show_option(loc),
            message,
            shown,
            PRIORITY_SUGGESTION
        ),
        defs.get(1).and_then(|d| d.pos),
    ))
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_unique(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    _span: Span,
) -> Result<Value> {
    // message, inner merge, loc, defs
    if defs.len() == 1 {
        let r = ev.call2(a[1].clone(), loc_to_value(loc), defs_to_list(defs), None)?;
        return ev.force(r);
    }
    let msg = force_str(ev, &a[0], "unique message")?;
    unique_defs(ev, loc, defs, &msg)
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_default(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    span: Span,
) -> Result<Value> {
    if defs.len() == 1 {
        return ev.force(defs[0].value.clone());
    }
    let vals: Vec<Value> = defs
        .iter()
        .map(|d| ev.force(d.value.clone()))
        .collect::<Result<_>>()?;
    if vals.iter().all(|v| v.is_function()) {
        return Ok(papp(
            "mergedFunction",
            3,
            merged_fn_call,
            vec![loc_to_value(loc), defs_to_list(defs)],
        ));
    }
    if vals.iter().all(|v| matches!(v, Value::List(_))) {
        let mut out = Vec::new();
        for v in &vals {
            if let Value::List(l) = v {
                out.extend(l.iter().cloned());
            }
        }
        return Ok(Value::list(out));
    }
    if vals.iter().all(|v| matches!(v, Value::Attrs(_))) {
        let mut acc = Rc::new(Attrs::new());
        for v in &vals {
            if let Value::Attrs(x) = v {
                acc = Rc::new(Attrs::update(&acc, x));
            }
        }
        return Ok(Value::Attrs(acc));
    }
    if vals.iter().all(|v| matches!(v, Value::Bool(_))) {
        return Ok(Value::Bool(
            vals.iter().any(|v| matches!(v, Value::Bool(true))),
        ));
    }
    if vals.iter().all(|v| matches!(v, Value::Str(_))) {
        let mut out = String::new();
        let mut ctx = None;
        for v in &vals {
            if let Value::Str(x) = v {
                out.push_str(&x.s);
                ctx = ox_eval::value::merge_ctx(&ctx, &x.ctx);
            }
        }
        return Ok(Value::str_ctx(out, ctx));
    }
    if vals.iter().all(|v| matches!(v, Value::Int(_))) {
        return merge_equal_defs(ev, loc, defs, span);
    }
    let shown = show_defs(ev, defs);
    throw(format!(
        "Cannot merge definitions of `{}'. Definition values:{}",
        show_option(loc),
        shown
    ))
}

fn merged_fn_call(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    // loc, defs, x: the results of every function, merged by unspecified
    let (loc, defs) = loc_defs(ev, &a[..2])?;
    let mut out = Vec::new();
    for d in defs {
        out.push(Def {
            value: ev.call(d.value.clone(), a[2].clone(), None)?,
            ..d.clone()
        });
    }
    let mut l = loc.clone();
    l.push("<function body>");
    merge_default(ev, &[loc_to_value(&l), defs_to_list(&out)], nospan())
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_bool_or(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    _span: Span,
) -> Result<Value> {
    for d in defs {
        if force_bool(ev, &d.value, "a boolean")? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_sep(ev: &mut Eval, a: &[Value], loc: &[Sym], defs: &[Def], span: Span) -> Result<Value> {
    let sep = force_str(ev, &a[0], "separator")?;
    let mut out = String::new();
    let mut ctx = None;
    for (i, d) in defs.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        let v = ev.force(d.value.clone())?;
        let st = match v {
            Value::Str(x) => x,
            o => {
                let x = ev.coerce_to_string(o, span, false, false)?;
                Rc::new(x)
            }
        };
        out.push_str(&st.s);
        ctx = ox_eval::value::merge_ctx(&ctx, &st.ctx);
    }
    Ok(Value::str_ctx(out, ctx))
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_single_line(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    span: Span,
) -> Result<Value> {
    let _ = a;
    let v = merge_equal_defs(ev, loc, defs, span)?;
    match ev.force(v)? {
        Value::Str(x) => Ok(Value::str_ctx(
            x.s.strip_suffix('\n').unwrap_or(&x.s).to_string(),
            x.ctx.clone(),
        )),
        o => Ok(o),
    }
}

// (uniform signature: not every merge uses every argument)
thread_local! {
    /// `[definition N-entry M]` by (N - 1, M - 1), interned once.
    static ENTRY_NAMES: std::cell::RefCell<Vec<Vec<Sym>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The location name of list element `m` of definition `n` (from 0), as
/// nixpkgs names it (formatted and interned once per pair: every list
/// element merged needs it).
fn entry_name(n: usize, m: usize) -> Sym {
    if n >= 64 || m >= 4096 {
        return sym(&format!("[definition {}-entry {}]", n + 1, m + 1));
    }
    ENTRY_NAMES.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() <= n {
            c.resize_with(n + 1, Vec::new);
        }
        let row = &mut c[n];
        while row.len() <= m {
            let j = row.len();
            row.push(sym(&format!("[definition {}-entry {}]", n + 1, j + 1)));
        }
        row[m]
    })
}

#[allow(unused_variables)]
fn core_list(ev: &mut Eval, a: &[Value], loc: &[Sym], defs: &[Def], _span: Span) -> Result<Value> {
    let elem = a[0].clone();
    let mut out = Vec::with_capacity(if let [d] = defs {
        force_list(ev, &d.value, "a list definition")?.len()
    } else {
        0
    });
    for (n, d) in defs.iter().enumerate() {
        let l = force_list(ev, &d.value, "a list definition")?;
        for (m, x) in l.iter().enumerate() {
            let el = modules::loc_with(loc, entry_name(n, m));
            let raw = RawDef {
                file: d.file.clone(),
                pos: d.pos,
                value: x.clone(),
                wraps: modules::no_wraps(),
            };
            if let Some(v) = modules::merge_definitions_at(ev, el, &elem, &[raw])? {
                out.push(v);
            }
        }
    }
    Ok(Value::list(out))
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_attrs_of(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    _span: Span,
) -> Result<Value> {
    let elem = a[0].clone();
    let is_lazy = matches!(ev.force(a[1].clone())?, Value::Bool(true));
    if let ([d], false) = (defs, is_lazy) {
        // One definition (the rule for a submodule element's sets): its
        // attributes are already grouped and in order.
        let at = force_attrs(ev, &d.value, "an attribute set definition")?;
        let mut out: Vec<(Sym, Value)> = Vec::with_capacity(at.entries().len());
        for (i, (k, v)) in at.entries().iter().enumerate() {
            let raw = RawDef {
                file: d.file.clone(),
                pos: modules::entry_position(&at, i, k).or(d.pos),
                value: v.clone(),
                wraps: modules::no_wraps(),
            };
            let el = modules::loc_with(loc, k);
            if let Some(v) =
                modules::merge_definitions_at(ev, el, &elem, std::slice::from_ref(&raw))?
            {
                out.push((*k, v));
            }
        }
        return Ok(Value::attrs(Attrs::from_sorted(out)));
    }
    let mut by: std::collections::BTreeMap<Sym, Vec<RawDef>> = Default::default();
    for d in defs {
        let at = force_attrs(ev, &d.value, "an attribute set definition")?;
        for (k, v) in at.entries() {
            by.entry(*k).or_default().push(RawDef {
                file: d.file.clone(),
                pos: at.position(k).or(d.pos),
                value: v.clone(),
                wraps: modules::no_wraps(),
            });
        }
    }
    let mut out: Vec<(Sym, Value)> = Vec::new();
    for (k, raws) in by {
        let el = modules::loc_with(loc, k);
        if is_lazy {
            let elem = elem.clone();
            out.push((
                k,
                lazy(move |ev| match modules::merge_definitions(ev, &el, &elem, &raws)? {
                    Some(v) => ev.force(v),
                    None => {
                        let e = get_type_attr(ev, &elem, "emptyValue")?;
                        let e = force_attrs(ev, &e, "emptyValue")?;
                        match e.get("value") {
                            Some(v) => ev.force(v.clone()),
                            None => throw(format!(
                                "The option `{}' was accessed but has no value defined. Try setting the option.",
                                show_option(&el)
                            )),
                        }
                    }
                }),
            ));
        } else if let Some(v) = modules::merge_definitions_at(ev, el, &elem, &raws)? {
            out.push((k, v));
        }
    }
    Ok(Value::attrs(Attrs::from_sorted(out)))
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_null_or(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    _span: Span,
) -> Result<Value> {
    let mut nulls = 0;
    for d in defs {
        if matches!(ev.force(d.value.clone())?, Value::Null) {
            nulls += 1;
        }
    }
    if nulls == defs.len() {
        return Ok(Value::Null);
    }
    if nulls != 0 {
        let files: Vec<String> = defs.iter().map(|d| d.where_()).collect();
        return throw(format!(
            "The option `{}` is defined both null and not null, in {}.",
            show_option(loc),
            show_files(&files)
        ));
    }
    merge_with_type(ev, &a[0], loc, defs)
}

// nixpkgs' v2 merges (`type.merge.v2`), as far as `either` needs them:
// `mergeDefinitions` (an option, an `attrsOf`/`listOf` element, a
// `functionTo` body) calls the v2 merge and turns an `either` whose
// definitions fit neither type into a type error; `merge` called as a
// function (from `nullOr`, custom types, Nix code) warns and falls back to
// `mergeOneOption`. The mode travels from `merge_v2` through
// `merge_with_type` to the next native merge, without any Nix code running
// in between.
thread_local! {
    /// Set by `merge_v2`/v2-aware merges for the `merge_with_type` call
    /// they are about to make.
    static V2_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Handed by `merge_with_type` to `core_either`/`core_coerced`.
    static V2_NOW: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// nixpkgs' `headError.message` of the failed `either`, for `merge_v2`.
    static HEAD_ERROR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// `mergeDefinitions`' v2 merge: `Ok(Err(message))` is nixpkgs'
/// `headError` (the caller reports "A definition for option … is not of
/// type …. TypeError: message").
pub fn merge_v2(
    ev: &mut Eval,
    ty: &Value,
    loc: &[Sym],
    defs: &[Def],
) -> Result<std::result::Result<Value, String>> {
    let m = get_type_attr(ev, ty, "merge")?;
    let m = ev.force(m)?;
    merge_v2_with(ev, &m, ty, loc, defs)
}

/// `merge_v2` with the type's `merge` function, forced, already at hand.
pub fn merge_v2_with(
    ev: &mut Eval,
    merge: &Value,
    ty: &Value,
    loc: &[Sym],
    defs: &[Def],
) -> Result<std::result::Result<Value, String>> {
    HEAD_ERROR.with(|h| h.borrow_mut().take());
    // (the mode as an argument: three thread-local writes per option
    // merge showed in profiles)
    match merge_with_fn_v2(ev, merge, ty, loc, defs, true) {
        Ok(v) => Ok(Ok(v)),
        Err(e) => match HEAD_ERROR.with(|h| h.borrow_mut().take()) {
            Some(m) => Ok(Err(m)),
            None => Err(e),
        },
    }
}

/// The two types of an `either` (`None` for any other type).
pub fn either_parts(ev: &mut Eval, t: &Value) -> Result<Option<(Value, Value)>> {
    let m = get_type_attr(ev, t, "merge")?;
    Ok(either_parts_of_merge(&ev.force(m)?))
}

/// `either_parts` from the type's `merge` function (forced).
pub fn either_parts_of_merge(m: &Value) -> Option<(Value, Value)> {
    match m {
        Value::PrimOpApp(app)
            if std::ptr::fn_addr_eq(app.op.f, merge_either as ox_eval::value::PrimFn)
                && app.args.len() == 2 =>
        {
            Some((app.args[0].clone(), app.args[1].clone()))
        }
        _ => None,
    }
}

/// nixpkgs' `headError == null` for `t`: every definition passes its
/// check, and for a nested `either` (`oneOf`), one of its types fits.
fn fits(ev: &mut Eval, t: &Value, defs: &[Def]) -> Result<bool> {
    for d in defs {
        if !call_check(ev, t, d.value.clone())? {
            return Ok(false);
        }
    }
    match either_parts(ev, t)? {
        Some((x, y)) => Ok(fits(ev, &x, defs)? || fits(ev, &y, defs)?),
        None => Ok(true),
    }
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_either(ev: &mut Eval, a: &[Value], loc: &[Sym], defs: &[Def], span: Span) -> Result<Value> {
    let v2 = V2_NOW.with(|c| c.replace(false));
    for t in [&a[0], &a[1]] {
        if fits(ev, t, defs)? {
            V2_CALL.with(|c| c.set(v2));
            return merge_with_type(ev, t, loc, defs);
        }
    }
    let name = show_option(loc);
    let head = format!(
        "The option `{name}` is neither a value of type `{}` nor `{}`, Definition values: {}",
        description(ev, &a[0])?,
        description(ev, &a[1])?,
        show_defs(ev, defs),
    );
    if v2 {
        HEAD_ERROR.with(|h| *h.borrow_mut() = Some(head.clone()));
        return throw(head);
    }
    // nixpkgs (since 25.05) warns here before falling back to
    // `mergeOneOption`, and means to make it an error in 26.05.
    let msg = format!(
        "One or more definitions did not pass the type-check of the 'either' type.\n\
         {head}\n\
         If `either`, `oneOf` or similar is used in freeformType, ensure that it is preceded by an 'attrsOf' such as: `freeformType = types.attrsOf (types.either t1 t2)`.\n\
         Otherwise consider using the correct type for the option `{name}`.  This will be an error in Nixpkgs 26.05.\n",
    );
    crate::util::warn(ev, &msg);
    unique_defs(ev, loc, defs, "")
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_coerced(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    _span: Span,
) -> Result<Value> {
    // from, f, to, loc, defs
    let v2 = V2_NOW.with(|c| c.replace(false));
    let mut out = Vec::new();
    for d in defs {
        let v = if call_check(ev, &a[0], d.value.clone())?
            && !call_check(ev, &a[2], d.value.clone())?
        {
            ev.call(a[1].clone(), d.value.clone(), None)?
        } else {
            d.value.clone()
        };
        out.push(Def {
            value: v,
            ..d.clone()
        });
    }
    // coercedTo's v2 merge is the target type's
    V2_CALL.with(|c| c.set(v2));
    merge_with_type(ev, &a[2], loc, &out)
}

fn merge_function_to(_ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    Ok(papp("functionTo", 4, function_to_call, a.to_vec()))
}

fn function_to_call(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    // elem, loc, defs, arg
    let (loc, defs) = loc_defs(ev, &a[..3])?;
    let mut out = Vec::new();
    for d in defs {
        let v = ev.call(d.value.clone(), a[3].clone(), None)?;
        out.push(Def { value: v, ..d });
    }
    let mut l = loc;
    l.push("<function body>");
    let raws: Vec<RawDef> = out.iter().map(RawDef::plain).collect();
    match modules::merge_definitions(ev, &l, &a[0], &raws)? {
        Some(v) => ev.force(v),
        None => throw(format!("The option `{}' has no value", show_option(&l))),
    }
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_attrs_shallow(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    _span: Span,
) -> Result<Value> {
    let mut acc = Rc::new(Attrs::new());
    for d in defs {
        let x = force_attrs(ev, &d.value, "an attribute set definition")?;
        acc = Rc::new(Attrs::update(&acc, &x));
    }
    Ok(Value::Attrs(acc))
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_anything(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    span: Span,
) -> Result<Value> {
    let mut kinds = Vec::new();
    for d in defs {
        let v = ev.force(d.value.clone())?;
        let k = match &v {
            Value::Attrs(x) if x.contains("outPath") || x.contains("__toString") => {
                "stringCoercibleSet"
            }
            v if v.is_function() => "lambda",
            v => v.type_of(),
        };
        kinds.push(k);
    }
    let k0 = kinds[0];
    if kinds.iter().any(|k| *k != k0) {
        let files: Vec<String> = defs.iter().map(|d| d.where_()).collect();
        return throw(format!(
            "The option `{}' has conflicting option types in {}",
            show_option(loc),
            show_files(&files)
        ));
    }
    match k0 {
        "set" => core_attrs_of(ev, &[anything(), Value::Bool(false)], loc, defs, span),
        "list" => {
            if defs.len() > 1 {
                let files: Vec<String> = defs.iter().map(|d| d.where_()).collect();
                return throw(format!(
                    "The option `{}' has conflicting definitions, in {}.",
                    show_option(loc),
                    show_files(&files)
                ));
            }
            core_list(ev, &[anything()], loc, defs, span)
        }
        "lambda" => Ok(papp(
            "anythingFunction",
            3,
            anything_fn_call,
            vec![loc_to_value(loc), defs_to_list(defs)],
        )),
        "stringCoercibleSet" => unique_defs(ev, loc, defs, ""),
        _ => merge_equal_defs(ev, loc, defs, span),
    }
}

fn anything_fn_call(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let (loc, defs) = loc_defs(ev, &a[..2])?;
    let mut out = Vec::new();
    for d in defs {
        let v = ev.call(d.value.clone(), a[2].clone(), None)?;
        out.push(Def { value: v, ..d });
    }
    let mut l = loc;
    l.push("<function body>");
    merge_anything(ev, &[loc_to_value(&l), defs_to_list(&out)], span)
}

// ----------------------------------------------------------------------
// Submodules

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_submodule(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    _span: Span,
) -> Result<Value> {
    // modules, specialArgs, class, shorthand, loc, defs
    let shorthand = matches!(ev.force(a[3].clone())?, Value::Bool(true));
    let tm = force_list(ev, &a[0], "submodule modules")?;
    let mut mods = Vec::with_capacity(tm.len() + 2 + defs.len());
    mods.push(NAME_DEFAULT_MODULE.with(|m| m.clone()));
    mods.extend(tm.iter().cloned());
    let name = loc.last().cloned().unwrap_or_default();
    mods.push(attrs(vec![(
        "_module",
        attrs(vec![("args", attrs(vec![("name", s(name))]))]),
    )]));
    for d in defs {
        let v = ev.force(d.value.clone())?;
        let file = file_value(&d.file);
        let m = if matches!(v, Value::Attrs(_)) && shorthand {
            attrs(vec![("_file", file), ("config", v)])
        } else {
            attrs(vec![("_file", file), ("imports", Value::list(vec![v]))])
        };
        mods.push(m);
    }
    let args = sub_eval_args_all(mods, &a[1], &a[2], loc);
    modules::eval_sub_config(ev, modules::current_lib(), args, loc)
}

thread_local! {
    /// `{ _module.args.name = mkOptionDefault "‹name›"; }`, the same for
    /// every submodule evaluation.
    static NAME_DEFAULT_MODULE: Value = attrs(vec![(
        "_module",
        attrs(vec![(
            "args",
            attrs(vec![(
                "name",
                attrs(vec![
                    ("_type", s("override")),
                    ("priority", Value::Int(1500)),
                    ("content", s("‹name›")),
                ]),
            )]),
        )]),
    )]);
}

thread_local! {
    /// The last file of a submodule definition and its string value.
    static LAST_FILE: RefCell<Option<(Rc<str>, Value)>> = const { RefCell::new(None) };
}

/// `file` as a Nix string (the same value for the definitions of one
/// file in a row: most elements of an `attrsOf (submodule …)` option).
fn file_value(file: &Rc<str>) -> Value {
    LAST_FILE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((f, v)) = c.as_ref() {
            if Rc::ptr_eq(f, file) {
                return v.clone();
            }
        }
        let v = s(&**file);
        *c = Some((file.clone(), v.clone()));
        v
    })
}

/// Whether `a` is the (shared) module that defines `_module.args.name`'s
/// default, first in every submodule evaluation.
pub fn is_name_default_module(a: &Rc<Attrs>) -> bool {
    NAME_DEFAULT_MODULE.with(|m| matches!(m, Value::Attrs(x) if Rc::ptr_eq(x, a)))
}

/// The arguments of a submodule's `evalModules`.
fn sub_eval_args(mods: Vec<Value>, special: &Value, class: &Value, loc: &[Sym]) -> Value {
    let mut all = Vec::with_capacity(mods.len() + 1);
    all.push(NAME_DEFAULT_MODULE.with(|m| m.clone()));
    all.extend(mods);
    sub_eval_args_all(all, special, class, loc)
}

/// `sub_eval_args` with the name's default module already first in `all`.
fn sub_eval_args_all(all: Vec<Value>, special: &Value, class: &Value, loc: &[Sym]) -> Value {
    attrs(vec![
        ("modules", Value::list(all)),
        ("specialArgs", special.clone()),
        ("class", class.clone()),
        // (a list of strings per element, rarely read: built if read)
        ("prefix", {
            let loc = loc.to_vec();
            lazy(move |_| Ok(loc_to_value(&loc)))
        }),
    ])
}

fn sub_eval(
    ev: &mut Eval,
    mods: Vec<Value>,
    special: &Value,
    class: &Value,
    loc: &[Sym],
) -> Result<Value> {
    let args = sub_eval_args(mods, special, class, loc);
    let lib = modules::current_lib();
    modules::eval_modules(ev, lib, args, true)
}

fn submodule_sub_options(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    // modules, specialArgs, class, prefix
    let loc = loc_from_value(ev, &a[3])?;
    let mut mods = force_list(ev, &a[0], "submodule modules")?.to_vec();
    mods.push(attrs(vec![(
        "_module",
        attrs(vec![(
            "check",
            attrs(vec![
                ("_type", s("override")),
                ("priority", Value::Int(50)),
                ("content", Value::Bool(false)),
            ]),
        )]),
    )]));
    let r = sub_eval(ev, mods, &a[1], &a[2], &loc)?;
    let r = force_attrs(ev, &r, "a submodule evaluation")?;
    ev.force(r.get("options").cloned().unwrap_or(Value::Null))
}

pub fn submodule_with(
    modules: Value,
    special: Value,
    class: Value,
    shorthand: bool,
    description: Option<String>,
) -> Value {
    let payload = attrs(vec![
        ("modules", modules.clone()),
        ("specialArgs", special.clone()),
        ("class", class.clone()),
        ("shorthandOnlyDefinesConfig", Value::Bool(shorthand)),
    ]);
    let mut t = T::new(
        "submodule",
        description.unwrap_or_else(|| "submodule".into()),
        prim("check", 1, check_module),
        papp(
            "mergeSubmodule",
            6,
            merge_submodule,
            vec![
                modules.clone(),
                special.clone(),
                class.clone(),
                Value::Bool(shorthand),
            ],
        ),
    );
    t.kind = "submodule";
    t.payload = payload;
    t.empty = Some(attrs(vec![]));
    t.extra.push((
        "getSubOptions",
        papp(
            "getSubOptions",
            4,
            submodule_sub_options,
            vec![modules.clone(), special, class],
        ),
    ));
    t.extra.push(("getSubModules", modules));
    t.build()
}

fn prim_submodule_with(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    let x = force_attrs(ev, &a[0], "the argument of types.submoduleWith")?;
    let modules = x.get("modules").cloned().unwrap_or(Value::list(vec![]));
    let special = x.get("specialArgs").cloned().unwrap_or(attrs(vec![]));
    let class = x.get("class").cloned().unwrap_or(Value::Null);
    let shorthand = match x.get("shorthandOnlyDefinesConfig") {
        Some(v) => force_bool(ev, v, "shorthandOnlyDefinesConfig")?,
        None => false,
    };
    let desc = match x.get("description") {
        Some(d) => match ev.force(d.clone())? {
            Value::Null => None,
            d => Some(force_str(ev, &d, "description")?),
        },
        None => None,
    };
    Ok(submodule_with(modules, special, class, shorthand, desc))
}

fn prim_submodule(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    let m = ev.force(a[0].clone())?;
    let mods = match m {
        Value::List(l) => Value::List(l),
        m => Value::list(vec![m]),
    };
    Ok(submodule_with(mods, attrs(vec![]), Value::Null, true, None))
}

// (uniform signature: not every merge uses every argument)
#[allow(unused_variables)]
fn core_deferred(
    ev: &mut Eval,
    a: &[Value],
    loc: &[Sym],
    defs: &[Def],
    _span: Span,
) -> Result<Value> {
    let imports: Vec<Value> = defs
        .iter()
        .map(|d| {
            attrs(vec![
                (
                    "_file",
                    s(format!("{}, via option {}", d.file, show_option(loc))),
                ),
                ("imports", Value::list(vec![d.value.clone()])),
            ])
        })
        .collect();
    Ok(attrs(vec![("imports", Value::list(imports))]))
}

fn merge_option_type(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let (loc, defs) = loc_defs(ev, a)?;
    let Some(first) = defs.first() else {
        return throw(format!(
            "The option `{}' has no definitions",
            show_option(&loc)
        ));
    };
    let mut t = first.value.clone();
    for d in &defs[1..] {
        match merge_types(ev, &t, &d.value)? {
            Some(x) => t = x,
            None => return merge_one(ev, a, span),
        }
    }
    let _ = loc;
    Ok(t)
}

/// Merge the types of two declarations of one option; `None` when they
/// do not merge.
pub fn merge_types(ev: &mut Eval, a: &Value, b: &Value) -> Result<Option<Value>> {
    let ka = kind(ev, a)?;
    let kb = kind(ev, b)?;
    let na = get_type_attr(ev, a, "name")?;
    let na = force_str(ev, &na, "type name")?;
    let nb = get_type_attr(ev, b, "name")?;
    let nb = force_str(ev, &nb, "type name")?;
    if ka != kb || na != nb {
        return Ok(None);
    }
    let pa = get_type_attr(ev, a, "_oxPayload")?;
    let pb = get_type_attr(ev, b, "_oxPayload")?;
    match ka.as_str() {
        "submodule" => {
            let pa = force_attrs(ev, &pa, "payload")?;
            let pb = force_attrs(ev, &pb, "payload")?;
            let mut mods =
                force_list(ev, pa.get("modules").unwrap_or(&Value::Null), "modules")?.to_vec();
            mods.extend(
                force_list(ev, pb.get("modules").unwrap_or(&Value::Null), "modules")?
                    .iter()
                    .cloned(),
            );
            let sa = force_attrs(
                ev,
                pa.get("specialArgs").unwrap_or(&Value::Null),
                "specialArgs",
            )?;
            let sb = force_attrs(
                ev,
                pb.get("specialArgs").unwrap_or(&Value::Null),
                "specialArgs",
            )?;
            let sh = force_bool(
                ev,
                pa.get("shorthandOnlyDefinesConfig")
                    .unwrap_or(&Value::Bool(false)),
                "shorthand",
            )?;
            let class = pa.get("class").cloned().unwrap_or(Value::Null);
            Ok(Some(submodule_with(
                Value::list(mods),
                Value::attrs(Attrs::update(&sa, &sb)),
                class,
                sh,
                None,
            )))
        }
        "wrap" => {
            // payload: { elem; ctor; }
            let pa = force_attrs(ev, &pa, "payload")?;
            let pb = force_attrs(ev, &pb, "payload")?;
            let ea = pa.get("elem").cloned().unwrap_or(Value::Null);
            let eb = pb.get("elem").cloned().unwrap_or(Value::Null);
            match merge_types(ev, &ea, &eb)? {
                Some(e) => {
                    let ctor = pa.get("ctor").cloned().unwrap_or(Value::Null);
                    {
                        let r = ev.call(ctor, e, None)?;
                        Ok(Some(ev.force(r)?))
                    }
                }
                None => Ok(None),
            }
        }
        "enum" => {
            let mut va = force_list(ev, &pa, "enum values")?.to_vec();
            va.extend(force_list(ev, &pb, "enum values")?.iter().cloned());
            Ok(Some(enum_(ev, Value::list(va))?))
        }
        "simple" => {
            let da = description(ev, a)?;
            let db = description(ev, b)?;
            Ok((da == db).then(|| a.clone()))
        }
        _ => Ok(None),
    }
}

// ----------------------------------------------------------------------
// Constructors

pub fn bool_() -> Value {
    T::new(
        "bool",
        "boolean",
        prim("check", 1, check_bool),
        prim("mergeEqual", 2, merge_equal),
    )
    .build()
}
pub fn raw() -> Value {
    T::new(
        "raw",
        "raw value",
        prim("check", 1, check_true),
        prim("mergeOne", 2, merge_one),
    )
    .build()
}
pub fn unspecified() -> Value {
    T::new(
        "unspecified",
        "unspecified value",
        prim("check", 1, check_true),
        prim("mergeDefault", 2, merge_default),
    )
    .build()
}
thread_local! {
    static ANYTHING: Value = anything_type();
}

/// `types.anything` (one value: its merge builds it for every nested set
/// and list otherwise).
pub fn anything() -> Value {
    ANYTHING.with(|t| t.clone())
}

fn anything_type() -> Value {
    let mut t = T::new(
        "anything",
        "anything",
        prim("check", 1, check_true),
        prim("mergeAnything", 2, merge_anything),
    );
    t.empty = Some(attrs(vec![]));
    t.build()
}
pub fn option_type() -> Value {
    T::new(
        "optionType",
        "optionType",
        prim("check", 1, check_option_type),
        prim("merge", 2, merge_option_type),
    )
    .build()
}

#[allow(clippy::too_many_arguments)]
fn wrap(
    name: &str,
    desc: String,
    class: &'static str,
    check: Value,
    merge: Value,
    elem: Value,
    ctor: Value,
    empty: Option<Value>,
    sub: &'static str,
) -> Value {
    let mut t = T::new(name, desc, check, merge);
    t.kind = "wrap";
    t.class = class;
    t.payload = attrs(vec![("elem", elem.clone()), ("ctor", ctor)]);
    t.empty = empty;
    t.nested.push(("elemType", elem.clone()));
    t.extra.push((
        "getSubOptions",
        papp(
            "getSubOptions",
            3,
            wrapped_sub_options,
            vec![elem.clone(), s(sub)],
        ),
    ));
    t.extra.push((
        "getSubModules",
        papp("getSubModules", 1, wrapped_sub_modules, vec![elem]).clone(),
    ));
    t.build()
}

fn wrapped_sub_options(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    let mut p = force_list(ev, &a[2], "prefix")?.to_vec();
    let part = force_str(ev, &a[1], "placeholder")?;
    if !part.is_empty() {
        p.push(s(part));
    }
    let f = get_type_attr(ev, &a[0], "getSubOptions")?;
    let r = ev.call(f, Value::list(p), None)?;
    ev.force(r)
}

fn wrapped_sub_modules(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    let v = get_type_attr(ev, &a[0], "getSubModules")?;
    ev.force(v)
}

pub fn list_of(ev: &mut Eval, elem: Value) -> Result<Value> {
    let d = format!("list of {}", phrase(ev, &elem, &["noun", "composite"])?);
    Ok(wrap(
        "listOf",
        d,
        "composite",
        prim("check", 1, check_list),
        papp("mergeList", 3, merge_list, vec![elem.clone()]),
        elem,
        prim("listOf", 1, p_list_of),
        Some(Value::list(vec![])),
        "*",
    ))
}
pub fn attrs_of(ev: &mut Eval, elem: Value, lazy: bool) -> Result<Value> {
    let d = format!(
        "{}attribute set of {}",
        if lazy { "lazy " } else { "" },
        phrase(ev, &elem, &["noun", "composite"])?
    );
    let (name, ctor) = if lazy {
        ("lazyAttrsOf", prim("lazyAttrsOf", 1, p_lazy_attrs_of))
    } else {
        ("attrsOf", prim("attrsOf", 1, p_attrs_of))
    };
    Ok(wrap(
        name,
        d,
        "composite",
        prim("check", 1, check_attrs),
        papp(
            "mergeAttrsOf",
            4,
            merge_attrs_of,
            vec![elem.clone(), Value::Bool(lazy)],
        ),
        elem,
        ctor,
        Some(attrs(vec![])),
        "<name>",
    ))
}
pub fn lazy_attrs_of(elem: Value) -> Value {
    // Used for `_module.args` before any evaluator is around: description
    // of `raw` is known.
    wrap(
        "lazyAttrsOf",
        "lazy attribute set of raw value".into(),
        "composite",
        prim("check", 1, check_attrs),
        papp(
            "mergeAttrsOf",
            4,
            merge_attrs_of,
            vec![elem.clone(), Value::Bool(true)],
        ),
        elem,
        prim("lazyAttrsOf", 1, p_lazy_attrs_of),
        Some(attrs(vec![])),
        "<name>",
    )
}
pub fn null_or(elem: Value) -> Value {
    let mut t = T::new(
        "nullOr",
        "null or optionType",
        papp("check", 2, check_null_or, vec![elem.clone()]),
        papp("mergeNullOr", 3, merge_null_or, vec![elem.clone()]),
    );
    t.kind = "wrap";
    t.class = "conjunction";
    t.payload = attrs(vec![
        ("elem", elem.clone()),
        ("ctor", prim("nullOr", 1, p_null_or)),
    ]);
    t.empty = Some(Value::Null);
    t.nested.push(("elemType", elem.clone()));
    t.extra.push((
        "getSubOptions",
        papp(
            "getSubOptions",
            3,
            wrapped_sub_options,
            vec![elem.clone(), s("")],
        ),
    ));
    t.build()
}
fn null_or_ev(ev: &mut Eval, elem: Value) -> Result<Value> {
    let d = format!("null or {}", phrase(ev, &elem, &["noun", "conjunction"])?);
    let t = null_or(elem);
    let a = force_attrs(ev, &t, "type")?;
    Ok(Value::attrs(Attrs::update(
        &a,
        &Attrs::from_sorted(vec![(key("description"), s(d))]),
    )))
}
pub fn enum_(ev: &mut Eval, values: Value) -> Result<Value> {
    let vals = force_list(ev, &values, "the values of types.enum")?;
    let mut shown = Vec::new();
    for v in vals.iter() {
        let v = ev.force(v.clone())?;
        shown.push(match &v {
            Value::Str(x) => {
                let mut o = String::new();
                ox_eval::print::escape_string(&x.s, &mut o);
                o
            }
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "null".into(),
            _ => "<value>".into(),
        });
    }
    let d = match shown.len() {
        0 => "impossible (empty enum)".to_string(),
        1 => format!("value {} (singular enum)", shown[0]),
        _ => format!("one of {}", shown.join(", ")),
    };
    let mut t = T::new(
        "enum",
        d,
        papp("check", 2, check_enum, vec![values.clone()]),
        prim("mergeEqual", 2, merge_equal),
    );
    t.kind = "enum";
    t.class = if shown.len() > 1 {
        "nonRestrictiveClause"
    } else {
        "noun"
    };
    t.payload = values;
    Ok(t.build())
}

fn ints_between(lo: Value, hi: Value, name: &str, desc: String) -> Value {
    let mut t = T::new(
        name,
        desc,
        papp("check", 3, check_int_range, vec![lo, hi]),
        prim("mergeEqual", 2, merge_equal),
    );
    t.class = "noun";
    t.build()
}

fn sized(bits: u32, signed: bool) -> Value {
    let (lo, hi): (i64, i64) = if signed {
        (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
    } else if bits == 64 {
        (0, i64::MAX)
    } else {
        (0, (1i64 << bits) - 1)
    };
    let name = format!("{}Int{}", if signed { "signed" } else { "unsigned" }, bits);
    let desc = format!(
        "{} bit {} integer; between {} and {} (both inclusive)",
        bits,
        if signed { "signed" } else { "unsigned" },
        lo,
        hi
    );
    ints_between(Value::Int(lo), Value::Int(hi), &name, desc)
}

// ----------------------------------------------------------------------
// Primops reachable from Nix (`builtins.ox.types.*`)

// Composite types of lib's own types (`listOf str`, `attrsOf (either
// str int)`, …) are built once: configurations build the same few
// thousands of times (every submodule element evaluates its option
// declarations). Only types whose parts are lib's types or cached
// results are cached, so the cache is bounded by the type expressions
// in the program; a type built from a user's `mkOptionType` or a
// submodule is built each time.
/// (constructor, parts) -> (type, the parts, kept alive).
type TypeCache = FxHashMap<(u8, usize, usize), (Value, Value, Value)>;

thread_local! {
    static STABLE_TYPES: RefCell<FxHashSet<usize>> = RefCell::new(FxHashSet::default());
    /// Keeps cached types and lib's types alive, so their addresses stay theirs.
    static TYPE_CACHE: RefCell<TypeCache> = RefCell::new(FxHashMap::default());
    static STABLE_KEEP: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

fn type_addr(v: &Value) -> Option<usize> {
    match v {
        Value::Attrs(a) => Some(Rc::as_ptr(a) as *const u8 as usize),
        Value::Thunk(t) => t.done_value().as_ref().and_then(type_addr),
        _ => None,
    }
}

fn stable_addr(v: &Value) -> Option<usize> {
    let a = type_addr(v)?;
    STABLE_TYPES.with(|s| s.borrow().contains(&a)).then_some(a)
}

fn register_stable(v: &Value) {
    if let Some(a) = type_addr(v) {
        STABLE_TYPES.with(|s| s.borrow_mut().insert(a));
        STABLE_KEEP.with(|k| k.borrow_mut().push(v.clone()));
    }
}

/// `build()` once per (constructor, parts) when the parts are stable.
fn cached_type(
    ev: &mut Eval,
    ctor: u8,
    x: &Value,
    y: Option<&Value>,
    build: impl FnOnce(&mut Eval, Value, Option<Value>) -> Result<Value>,
) -> Result<Value> {
    let x = ev.force(x.clone())?;
    let y = match y {
        Some(y) => Some(ev.force(y.clone())?),
        None => None,
    };
    let key = match (stable_addr(&x), y.as_ref().map(stable_addr)) {
        (Some(a), None) => Some((ctor, a, 0)),
        (Some(a), Some(Some(b))) => Some((ctor, a, b)),
        _ => None,
    };
    let Some(key) = key else {
        return build(ev, x, y);
    };
    if let Some((t, _, _)) = TYPE_CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(t);
    }
    let t = build(ev, x.clone(), y.clone())?;
    register_stable(&t);
    TYPE_CACHE.with(|c| {
        c.borrow_mut()
            .insert(key, (t.clone(), x, y.unwrap_or(Value::Null)))
    });
    Ok(t)
}

fn p_list_of(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    cached_type(ev, 1, &a[0], None, |ev, x, _| list_of(ev, x))
}
fn p_nonempty_list_of(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let l = list_of(ev, a[0].clone())?;
    let la = force_attrs(ev, &l, "type")?;
    let d = format!("non-empty {}", description(ev, &l)?);
    let check = papp(
        "check",
        3,
        check_add,
        vec![l.clone(), prim("nonEmpty", 1, check_nonempty_list)],
    );
    Ok(Value::attrs(Attrs::update(
        &la,
        &Attrs::from_unsorted(vec![
            (key("name"), s("nonEmptyListOf")),
            (key("description"), s(d)),
            (key("check"), check),
            (key("emptyValue"), attrs(vec![])),
        ]),
    )))
}
fn p_attrs_of(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    cached_type(ev, 2, &a[0], None, |ev, x, _| attrs_of(ev, x, false))
}
fn p_lazy_attrs_of(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    cached_type(ev, 3, &a[0], None, |ev, x, _| attrs_of(ev, x, true))
}
fn p_attrs_with(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = force_attrs(ev, &a[0], "the argument of types.attrsWith")?;
    let elem = x.get("elemType").cloned().unwrap_or_else(unspecified);
    let lazy = match x.get("lazy") {
        Some(l) => force_bool(ev, l, "lazy")?,
        None => false,
    };
    attrs_of(ev, elem, lazy)
}
fn p_null_or(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    cached_type(ev, 4, &a[0], None, null_or_ev_2)
}
fn null_or_ev_2(ev: &mut Eval, x: Value, _: Option<Value>) -> Result<Value> {
    null_or_ev(ev, x)
}
fn p_either(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    cached_type(ev, 5, &a[0], Some(&a[1]), |ev, x, y| {
        either(ev, x, y.unwrap_or(Value::Null))
    })
}
fn either(ev: &mut Eval, x: Value, y: Value) -> Result<Value> {
    let d = format!(
        "{} or {}",
        phrase(ev, &x, &["noun", "conjunction", "composite"])?,
        phrase(ev, &y, &["noun", "conjunction", "composite"])?
    );
    let mut t = T::new(
        "either",
        d,
        papp("check", 3, check_either, vec![x.clone(), y.clone()]),
        papp("mergeEither", 4, merge_either, vec![x.clone(), y.clone()]),
    );
    t.class = "conjunction";
    t.nested.push(("left", x));
    t.nested.push(("right", y));
    Ok(t.build())
}
fn p_one_of(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let l = force_list(ev, &a[0], "the argument of types.oneOf")?;
    if l.is_empty() {
        return throw("types.oneOf needs to get at least one type in its argument");
    }
    // a left fold, as nixpkgs: `oneOf [ a b c ]` = `either (either a b) c`
    // (the description is the same, an either's error names its two parts)
    let mut t = l[0].clone();
    for x in l[1..].iter() {
        t = either(ev, t, x.clone())?;
    }
    Ok(t)
}
fn p_coerced_to(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let d = format!(
        "{} or {} convertible to it",
        phrase(ev, &a[2], &["noun"])?,
        phrase(ev, &a[0], &["noun"])?
    );
    let mut t = T::new(
        "coercedTo",
        d,
        papp("check", 4, check_coerced, a.to_vec()),
        papp("mergeCoerced", 5, merge_coerced, a.to_vec()),
    );
    t.nested.push(("coercedType", a[0].clone()));
    t.nested.push(("finalType", a[2].clone()));
    Ok(t.build())
}
fn p_uniq(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let d = description(ev, &a[0])?;
    let mut t = T::new(
        "uniq",
        d,
        papp("check", 2, check_elem, vec![a[0].clone()]),
        prim("mergeOne", 2, merge_one),
    );
    t.nested.push(("elemType", a[0].clone()));
    Ok(t.build())
}
fn p_unique(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = force_attrs(ev, &a[0], "the first argument of types.unique")?;
    let msg = x.get("message").cloned().unwrap_or(s(""));
    let d = description(ev, &a[1])?;
    let inner = get_type_attr(ev, &a[1], "merge")?;
    let mut t = T::new(
        "unique",
        d,
        papp("check", 2, check_elem, vec![a[1].clone()]),
        papp("mergeUnique", 4, merge_unique, vec![msg, inner]),
    );
    t.nested.push(("elemType", a[1].clone()));
    Ok(t.build())
}
fn p_function_to(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let d = format!(
        "function that evaluates to a(n) {}",
        phrase(ev, &a[0], &["noun", "composite"])?
    );
    let mut t = T::new(
        "functionTo",
        d,
        prim("check", 1, check_function),
        papp("merge", 3, merge_function_to, vec![a[0].clone()]),
    );
    t.class = "composite";
    t.nested.push(("elemType", a[0].clone()));
    Ok(t.build())
}
fn p_enum(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    enum_(ev, a[0].clone())
}
fn p_str_matching(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let re = force_str(ev, &a[0], "the pattern of types.strMatching")?;
    let mut q = String::new();
    ox_eval::print::escape_string(&re, &mut q);
    let mut t = T::new(
        "strMatching",
        format!("string matching the pattern {}", re),
        papp("check", 2, check_str_matching, vec![a[0].clone()]),
        prim("mergeEqual", 2, merge_equal),
    );
    t.payload = a[0].clone();
    Ok(t.build())
}
fn separated(sep: &str) -> Value {
    let d = if sep.is_empty() {
        "Concatenated string".to_string()
    } else {
        let mut q = String::new();
        ox_eval::print::escape_string(sep, &mut q);
        format!("strings concatenated with {}", q)
    };
    let mut t = T::new(
        "separatedString",
        d,
        prim("check", 1, check_str),
        papp("mergeSeparated", 3, merge_sep, vec![s(sep)]),
    );
    t.payload = s(sep);
    t.empty = Some(s(""));
    t.build()
}
fn p_separated(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let sep = force_str(ev, &a[0], "the separator of types.separatedString")?;
    Ok(separated(&sep))
}
fn p_between(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let lo = ev.force(a[0].clone())?;
    let hi = ev.force(a[1].clone())?;
    let d = format!(
        "integer between {} and {} (both inclusive)",
        ox_eval::print::print_value(&lo),
        ox_eval::print::print_value(&hi)
    );
    Ok(ints_between(lo, hi, "intBetween", d))
}
fn p_num_between(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let lo = ev.force(a[0].clone())?;
    let hi = ev.force(a[1].clone())?;
    let d = format!(
        "integer or floating point number between {} and {} (both inclusive)",
        ox_eval::print::print_value(&lo),
        ox_eval::print::print_value(&hi)
    );
    Ok(T::new(
        "numberBetween",
        d,
        papp("check", 3, check_float_range, vec![lo, hi]),
        prim("mergeEqual", 2, merge_equal),
    )
    .build())
}
fn p_add_check(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let t = force_attrs(ev, &a[0], "the type of types.addCheck")?;
    let check = papp("check", 3, check_add, vec![a[0].clone(), a[1].clone()]);
    Ok(Value::attrs(Attrs::update(
        &t,
        &Attrs::from_sorted(vec![(key("check"), check)]),
    )))
}
fn p_mk_option_type(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let x = force_attrs(ev, &a[0], "the argument of lib.mkOptionType")?;
    let name = match x.get("name") {
        Some(n) => force_str(ev, n, "the name of an option type")?,
        None => return throw("lib.mkOptionType: `name' is required"),
    };
    let mut t = T::new(
        &name,
        name.clone(),
        x.get("check")
            .cloned()
            .unwrap_or_else(|| prim("check", 1, check_true)),
        x.get("merge")
            .cloned()
            .unwrap_or_else(|| prim("mergeDefault", 2, merge_default)),
    );
    t.kind = "custom";
    let mut v = force_attrs(ev, &t.build(), "type")?;
    // Everything given overrides the defaults (description, emptyValue, …).
    let given: Vec<(Sym, Value)> = x.entries().to_vec();
    v = Rc::new(Attrs::update(&v, &Attrs::from_sorted(given)));
    if !x.contains("description") {
        v = Rc::new(Attrs::update(
            &v,
            &Attrs::from_sorted(vec![(key("description"), s(name))]),
        ));
    }
    Ok(Value::Attrs(v))
}
fn p_is_type(ev: &mut Eval, a: &[Value], _s: Span) -> Result<Value> {
    let t = force_str(ev, &a[0], "the first argument of lib.isType")?;
    let x = ev.force(a[1].clone())?;
    Ok(Value::Bool(
        type_tag_force(ev, &x)?.as_deref() == Some(t.as_str()),
    ))
}

fn deferred_module() -> Value {
    let mut t = T::new(
        "deferredModule",
        "module",
        prim("check", 1, check_module),
        prim("mergeDeferred", 2, merge_deferred),
    );
    t.kind = "deferred";
    t.build()
}

fn simple(
    name: &str,
    desc: &str,
    check: ox_eval::value::PrimFn,
    merge_name: &'static str,
    merge: ox_eval::value::PrimFn,
) -> Value {
    T::new(
        name,
        desc,
        prim("check", 1, check),
        prim(merge_name, 2, merge),
    )
    .build()
}

/// `builtins.ox.types`
pub fn types_set() -> Value {
    let str_ = simple("str", "string", check_str, "mergeEqual", merge_equal);
    let path = simple("path", "path", check_path, "mergeEqual", merge_equal);
    let ints = attrs(vec![
        ("between", prim("between", 2, p_between)),
        (
            "unsigned",
            ints_between(
                Value::Int(0),
                Value::Null,
                "unsignedInt",
                "unsigned integer, meaning >=0".into(),
            ),
        ),
        (
            "positive",
            ints_between(
                Value::Int(1),
                Value::Null,
                "positiveInt",
                "positive integer, meaning >0".into(),
            ),
        ),
        ("u8", sized(8, false)),
        ("u16", sized(16, false)),
        ("u32", sized(32, false)),
        ("u64", sized(64, false)),
        ("s8", sized(8, true)),
        ("s16", sized(16, true)),
        ("s32", sized(32, true)),
    ]);
    let numbers = attrs(vec![
        ("between", prim("between", 2, p_num_between)),
        (
            "nonnegative",
            T::new(
                "numberNonnegative",
                "integer or floating point number, meaning >=0",
                papp(
                    "check",
                    3,
                    check_float_range,
                    vec![Value::Int(0), Value::Null],
                ),
                prim("mergeEqual", 2, merge_equal),
            )
            .build(),
        ),
        (
            "positive",
            T::new(
                "numberPositive",
                "integer or floating point number, meaning >0",
                papp(
                    "check",
                    3,
                    check_float_range,
                    vec![Value::Float(f64::MIN_POSITIVE), Value::Null],
                ),
                prim("mergeEqual", 2, merge_equal),
            )
            .build(),
        ),
    ]);
    let mut single = T::new(
        "singleLineStr",
        "(optionally newline-terminated) single-line string",
        prim("check", 1, check_single_line),
        prim("mergeSingleLine", 2, merge_single_line),
    );
    single.class = "noun";
    let e: Vec<(&str, Value)> = vec![
        ("bool", bool_()),
        (
            "boolByOr",
            simple(
                "boolByOr",
                "boolean (merged using or)",
                check_bool,
                "mergeBoolOr",
                merge_bool_or,
            ),
        ),
        (
            "int",
            simple(
                "int",
                "signed integer",
                check_int,
                "mergeEqual",
                merge_equal,
            ),
        ),
        ("ints", ints),
        ("port", sized(16, false)),
        (
            "float",
            simple(
                "float",
                "floating point number",
                check_float,
                "mergeEqual",
                merge_equal,
            ),
        ),
        (
            "number",
            simple(
                "number",
                "signed integer or floating point number",
                check_number,
                "mergeEqual",
                merge_equal,
            ),
        ),
        ("numbers", numbers),
        ("str", str_.clone()),
        (
            "nonEmptyStr",
            simple(
                "nonEmptyStr",
                "non-empty string",
                check_nonempty_str,
                "mergeEqual",
                merge_equal,
            ),
        ),
        ("singleLineStr", single.build()),
        (
            "passwdEntry",
            simple(
                "passwdEntry",
                "string, not containing newlines or colons",
                check_str,
                "mergeEqual",
                merge_equal,
            ),
        ),
        ("strMatching", prim("strMatching", 1, p_str_matching)),
        ("separatedString", prim("separatedString", 1, p_separated)),
        ("lines", separated("\n")),
        ("commas", separated(",")),
        ("envVar", separated(":")),
        ("string", separated("")),
        ("path", path.clone()),
        (
            "pathInStore",
            simple(
                "pathInStore",
                "path in the Nix store",
                check_path,
                "mergeEqual",
                merge_equal,
            ),
        ),
        (
            "externalPath",
            simple(
                "externalPath",
                "absolute path, not in the Nix store",
                check_path,
                "mergeEqual",
                merge_equal,
            ),
        ),
        (
            "package",
            simple("package", "package", check_package, "mergeOne", merge_one),
        ),
        (
            "shellPackage",
            simple(
                "shellPackage",
                "shell package",
                check_package,
                "mergeOne",
                merge_one,
            ),
        ),
        (
            "attrs",
            simple(
                "attrs",
                "attribute set",
                check_attrs,
                "mergeAttrs",
                merge_attrs_shallow,
            ),
        ),
        ("anything", anything()),
        ("raw", raw()),
        ("unspecified", unspecified()),
        ("optionType", option_type()),
        ("deferredModule", deferred_module()),
        ("listOf", prim("listOf", 1, p_list_of)),
        (
            "nonEmptyListOf",
            prim("nonEmptyListOf", 1, p_nonempty_list_of),
        ),
        ("attrsOf", prim("attrsOf", 1, p_attrs_of)),
        ("lazyAttrsOf", prim("lazyAttrsOf", 1, p_lazy_attrs_of)),
        ("attrsWith", prim("attrsWith", 1, p_attrs_with)),
        ("nullOr", prim("nullOr", 1, p_null_or)),
        ("either", prim("either", 2, p_either)),
        ("oneOf", prim("oneOf", 1, p_one_of)),
        ("coercedTo", prim("coercedTo", 3, p_coerced_to)),
        ("uniq", prim("uniq", 1, p_uniq)),
        ("unique", prim("unique", 2, p_unique)),
        ("functionTo", prim("functionTo", 1, p_function_to)),
        ("enum", prim("enum", 1, p_enum)),
        ("submodule", prim("submodule", 1, p_submodule)),
        (
            "submoduleWith",
            prim("submoduleWith", 1, prim_submodule_with),
        ),
        ("addCheck", prim("addCheck", 2, p_add_check)),
        ("mkOptionType", prim("mkOptionType", 1, p_mk_option_type)),
        ("isType", prim("isType", 2, p_is_type)),
    ];
    let _ = sym("types");
    let set = attrs(e);
    // lib's own types are the stable parts of cached composite types.
    if let Value::Attrs(a) = &set {
        for (_, v) in a.entries() {
            if let Value::Attrs(x) = v {
                if matches!(x.get("_type"), Some(Value::Str(t)) if t.s == "option-type") {
                    register_stable(v);
                } else {
                    for (_, w) in x.entries() {
                        if let Value::Attrs(y) = w {
                            if matches!(y.get("_type"), Some(Value::Str(t)) if t.s == "option-type")
                            {
                                register_stable(w);
                            }
                        }
                    }
                }
            }
        }
    }
    set
}

fn p_submodule(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    prim_submodule(ev, a, span)
}

/// The native merge of a type, on definitions already in Rust form.
type CoreMerge = fn(&mut Eval, &[Value], &[Sym], &[Def], Span) -> Result<Value>;

macro_rules! merge_prims {
    ($($prim:ident => $core:ident, $name:literal;)*) => {
        $(
            pub fn $prim(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
                let n = a.len();
                let loc = loc_from_value(ev, &a[n - 2])?;
                let defs = defs_from_list(ev, &a[n - 1])?;
                if defs.is_empty() {
                    return throw(format!(
                        "The option `{}': a type's merge was called without definitions",
                        show_option(&loc)
                    ));
                }
                $core(ev, &a[..n - 2], &loc, &defs, span)
            }
        )*
        /// The native merge behind the primop `f` (found by address: a
        /// name match cost ~60 instructions per merge).
        fn core_of(f: ox_eval::value::PrimFn) -> Option<CoreMerge> {
            $(
                if std::ptr::fn_addr_eq(f, $prim as ox_eval::value::PrimFn) {
                    return Some($core as CoreMerge);
                }
            )*
            None
        }
    };
}

merge_prims! {
    merge_equal => core_equal, "mergeEqual";
    merge_one => core_one, "mergeOne";
    merge_unique => core_unique, "mergeUnique";
    merge_default => core_default, "mergeDefault";
    merge_bool_or => core_bool_or, "mergeBoolOr";
    merge_sep => core_sep, "mergeSeparated";
    merge_single_line => core_single_line, "mergeSingleLine";
    merge_list => core_list, "mergeList";
    merge_attrs_of => core_attrs_of, "mergeAttrsOf";
    merge_null_or => core_null_or, "mergeNullOr";
    merge_either => core_either, "mergeEither";
    merge_coerced => core_coerced, "mergeCoerced";
    merge_attrs_shallow => core_attrs_shallow, "mergeAttrs";
    merge_anything => core_anything, "mergeAnything";
    merge_submodule => core_submodule, "mergeSubmodule";
    merge_deferred => core_deferred, "mergeDeferred";
}

/// `ty.merge loc defs`; ox's own merges run without converting the
/// definitions to Nix values and back.
pub fn merge_with_type(ev: &mut Eval, ty: &Value, loc: &[Sym], defs: &[Def]) -> Result<Value> {
    if defs.is_empty() {
        V2_CALL.with(|c| c.set(false));
        return throw(format!(
            "The option `{}' was accessed but has no value defined. Try setting the option.",
            show_option(loc)
        ));
    }
    let m = get_type_attr(ev, ty, "merge")?;
    let m = ev.force(m)?;
    merge_with_fn(ev, &m, ty, loc, defs)
}

/// `merge_with_type` with the type's `merge` function, forced.
fn merge_with_fn(
    ev: &mut Eval,
    m: &Value,
    _ty: &Value,
    loc: &[Sym],
    defs: &[Def],
) -> Result<Value> {
    let v2 = V2_CALL.with(|c| c.replace(false));
    merge_with_fn_v2(ev, m, _ty, loc, defs, v2)
}

/// `merge_with_fn` in v2 mode or not (see `V2_CALL`).
fn merge_with_fn_v2(
    ev: &mut Eval,
    m: &Value,
    _ty: &Value,
    loc: &[Sym],
    defs: &[Def],
    v2: bool,
) -> Result<Value> {
    if defs.is_empty() {
        return throw(format!(
            "The option `{}' was accessed but has no value defined. Try setting the option.",
            show_option(loc)
        ));
    }
    match m {
        Value::PrimOp(op) if op.arity == 2 => {
            if let Some(core) = core_of(op.f) {
                return core(ev, &[], loc, defs, nospan());
            }
        }
        Value::PrimOpApp(app) if app.args.len() + 2 == app.op.arity => {
            if let Some(core) = core_of(app.op.f) {
                // (read and reset by those two at once)
                if v2
                    && (std::ptr::fn_addr_eq(core, core_either as CoreMerge)
                        || std::ptr::fn_addr_eq(core, core_coerced as CoreMerge))
                {
                    V2_NOW.with(|c| c.set(true));
                }
                return core(ev, &app.args, loc, defs, nospan());
            }
        }
        _ => {}
    }
    let r = ev.call2(m.clone(), loc_to_value(loc), defs_to_list(defs), None)?;
    ev.force(r)
}
