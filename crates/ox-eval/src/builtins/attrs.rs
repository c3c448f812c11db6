//! Attribute-set builtins.

use super::*;

pub(super) fn register(r: &mut Registry) {
    r.add("attrNames", 1, attr_names);
    r.add("attrValues", 1, attr_values);
    r.add("getAttr", 2, get_attr_b);
    r.add("hasAttr", 2, has_attr);
    r.add("removeAttrs", 2, remove_attrs);
    r.add("listToAttrs", 1, list_to_attrs);
    r.add("intersectAttrs", 2, intersect_attrs);
    r.add("catAttrs", 2, cat_attrs);
    r.add("mapAttrs", 2, map_attrs);
    r.add("zipAttrsWith", 2, zip_attrs_with);
    r.add("isAttrs", 1, |ev, a, _| {
        Ok(Value::Bool(matches!(
            ev.force(a[0].clone())?,
            Value::Attrs(_)
        )))
    });
    r.add("functionArgs", 1, function_args);
    r.add("unsafeGetAttrPos", 2, unsafe_get_attr_pos);
}

fn attr_names(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = attrs_arg(ev, &a[0], "the argument of builtins.attrNames", span)?;
    Ok(Value::list(
        s.entries().iter().map(|(k, _)| Value::str(&**k)).collect(),
    ))
}

fn attr_values(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = attrs_arg(ev, &a[0], "the argument of builtins.attrValues", span)?;
    Ok(Value::list(
        s.entries().iter().map(|(_, v)| v.clone()).collect(),
    ))
}

fn get_attr_b(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let name = string_arg(ev, &a[0], "the first argument of builtins.getAttr", span)?;
    let s = attrs_arg(ev, &a[1], "the second argument of builtins.getAttr", span)?;
    match s.get(&name.s) {
        Some(v) => ev.force(v.clone()),
        None => {
            let mut e = EvalError::new(
                ErrorKind::Other,
                format!("attribute '{}' missing", name.s),
                Some(span),
            );
            e.hint = crate::eval::did_you_mean(&name.s, s.entries().iter().map(|(k, _)| &**k));
            Err(e)
        }
    }
}

fn has_attr(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let name = string_arg(ev, &a[0], "the first argument of builtins.hasAttr", span)?;
    let s = attrs_arg(ev, &a[1], "the second argument of builtins.hasAttr", span)?;
    Ok(Value::Bool(s.contains(&name.s)))
}

fn remove_attrs(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = attrs_arg(
        ev,
        &a[0],
        "the first argument of builtins.removeAttrs",
        span,
    )?;
    let l = list_arg(
        ev,
        &a[1],
        "the second argument of builtins.removeAttrs",
        span,
    )?;
    let mut names = Vec::with_capacity(l.len());
    for x in l.iter() {
        names.push(string_arg(
            ev,
            x,
            "an element of the list passed to builtins.removeAttrs",
            span,
        )?);
    }
    if names.is_empty() {
        return Ok(Value::Attrs(s));
    }
    let entries: Vec<(Sym, Value)> = s
        .entries()
        .iter()
        .filter(|(k, _)| !names.iter().any(|n| n.s == **k))
        .cloned()
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(entries)))
}

fn list_to_attrs(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(ev, &a[0], "the argument of builtins.listToAttrs", span)?;
    let mut entries: Vec<(Sym, Value)> = Vec::with_capacity(l.len());
    for x in l.iter() {
        let e = attrs_arg(
            ev,
            x,
            "an element of the list passed to builtins.listToAttrs",
            span,
        )?;
        let name = get_attr(
            &e,
            "name",
            "in an element of the list passed to builtins.listToAttrs",
            span,
        )?;
        let name = string_arg(
            ev,
            name,
            "the 'name' attribute of an element passed to builtins.listToAttrs",
            span,
        )?;
        let value = get_attr(
            &e,
            "value",
            "in an element of the list passed to builtins.listToAttrs",
            span,
        )?;
        entries.push((sym(&name.s), value.clone()));
    }
    // The first occurrence of a name wins.
    entries.reverse();
    let mut out = entries;
    out.sort_by(|a, b| a.0.cmp(b.0));
    // after reverse+stable sort, the last equal entry is the original first
    let mut dedup: Vec<(Sym, Value)> = Vec::with_capacity(out.len());
    for e in out {
        if let Some(last) = dedup.last_mut() {
            if last.0 == e.0 {
                *last = e;
                continue;
            }
        }
        dedup.push(e);
    }
    Ok(Value::attrs(Attrs::from_sorted(dedup)))
}

fn intersect_attrs(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let x = attrs_arg(
        ev,
        &a[0],
        "the first argument of builtins.intersectAttrs",
        span,
    )?;
    let y = attrs_arg(
        ev,
        &a[1],
        "the second argument of builtins.intersectAttrs",
        span,
    )?;
    let entries: Vec<(Sym, Value)> = y
        .entries()
        .iter()
        .filter(|(k, _)| x.contains(k))
        .cloned()
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(entries)))
}

fn cat_attrs(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let name = string_arg(ev, &a[0], "the first argument of builtins.catAttrs", span)?;
    let l = list_arg(ev, &a[1], "the second argument of builtins.catAttrs", span)?;
    let mut out = Vec::new();
    for x in l.iter() {
        let s = attrs_arg(
            ev,
            x,
            "an element of the list passed to builtins.catAttrs",
            span,
        )?;
        if let Some(v) = s.get(&name.s) {
            out.push(v.clone());
        }
    }
    Ok(Value::list(out))
}

fn map_attrs(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = attrs_arg(ev, &a[1], "the second argument of builtins.mapAttrs", span)?;
    let f = a[0].clone();
    let entries = s
        .entries()
        .iter()
        .map(|(k, v)| {
            let f = f.clone();
            let name = Value::str(&**k);
            let v = v.clone();
            (
                *k,
                Thunk::native(move |ev| ev.call2(f.clone(), name.clone(), v.clone(), Some(span))),
            )
        })
        .collect();
    let mut out = Attrs::from_sorted(entries);
    out.positions = s.positions.clone();
    Ok(Value::attrs(out))
}

fn zip_attrs_with(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(
        ev,
        &a[1],
        "the second argument of builtins.zipAttrsWith",
        span,
    )?;
    // Grouped through a hash map by name (a `BTreeMap` of 80,000 names
    // cost ~17 comparisons and a node walk per attribute), then the
    // distinct names sorted once. Values keep the list's order.
    let mut index: rustc_hash::FxHashMap<&str, usize> = Default::default();
    let mut groups: Vec<(Sym, Vec<Value>)> = Vec::new();
    for x in l.iter() {
        let s = attrs_arg(
            ev,
            x,
            "an element of the list passed to builtins.zipAttrsWith",
            span,
        )?;
        for (k, v) in s.entries().iter() {
            let g = *index.entry(*k).or_insert_with(|| {
                groups.push((*k, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(v.clone());
        }
    }
    groups.sort_by_cached_key(|(k, _)| (crate::value::name_prefix(k), *k));
    let f = a[0].clone();
    Ok(Value::attrs(Attrs::from_sorted(
        groups
            .into_iter()
            .map(|(k, vs)| {
                let f = f.clone();
                let name = Value::str(k);
                let vs = Value::list(vs);
                (
                    k,
                    Thunk::native(move |ev| {
                        ev.call2(f.clone(), name.clone(), vs.clone(), Some(span))
                    }),
                )
            })
            .collect(),
    )))
}

fn function_args(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = ev.force(a[0].clone())?;
    match &f {
        Value::Lambda(c) => match &c.def.formals {
            None => Ok(Value::attrs(Attrs::new())),
            Some(fs) => Ok(Value::attrs(Attrs::from_unsorted(
                fs.entries
                    .iter()
                    .map(|(n, d)| (*n, Value::Bool(d.is_some())))
                    .collect(),
            ))),
        },
        Value::PrimOp(_) | Value::PrimOpApp(_) => Ok(Value::attrs(Attrs::new())),
        o => type_err(
            format!(
                "value is {} while a function was expected (the argument of builtins.functionArgs)",
                o.type_name()
            ),
            span,
        ),
    }
}

fn unsafe_get_attr_pos(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let name = string_arg(
        ev,
        &a[0],
        "the first argument of builtins.unsafeGetAttrPos",
        span,
    )?;
    let s = attrs_arg(
        ev,
        &a[1],
        "the second argument of builtins.unsafeGetAttrPos",
        span,
    )?;
    match s.position(&name.s) {
        Some(p) => {
            let (line, col) = p.line_col().unwrap_or((0, 0));
            Ok(Value::attrs(Attrs::from_sorted(vec![
                ("column", Value::Int(col as i64)),
                ("file", Value::str(p.file_name())),
                ("line", Value::Int(line as i64)),
            ])))
        }
        None => Ok(Value::Null),
    }
}
