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
        Ok(Value::Bool(matches!(forced(ev, &a[0])?, Value::Attrs(_))))
    });
    r.add("functionArgs", 1, function_args);
    r.add("unsafeGetAttrPos", 2, unsafe_get_attr_pos);
}

fn attr_names(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = attrs_arg(ev, &a[0], "the argument of builtins.attrNames", span)?;
    Ok(Value::list(
        s.entries().iter().map(|(k, _)| name_value(k)).collect(),
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
        Some(v) => forced(ev, v),
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
            let k: Sym = k;
            let v = v.clone();
            (
                k,
                Thunk::native(move |ev| ev.call2(f.clone(), name_value(k), v.clone(), Some(span))),
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
    let mut sets: Vec<Rc<Attrs>> = Vec::with_capacity(l.len());
    for x in l.iter() {
        sets.push(attrs_arg(
            ev,
            x,
            "an element of the list passed to builtins.zipAttrsWith",
            span,
        )?);
    }
    let groups = group_by_name(&sets);
    let f = a[0].clone();
    Ok(Value::attrs(Attrs::from_sorted(
        groups
            .into_iter()
            .map(|(k, vs)| {
                let f = f.clone();
                let vs = Value::list(vs);
                (
                    k,
                    Thunk::native(move |ev| {
                        ev.call2(f.clone(), name_value(k), vs.clone(), Some(span))
                    }),
                )
            })
            .collect(),
    )))
}

/// An attribute name as a string value. Merges pass the same few names
/// (`enable`, `port`, …) to their functions again and again, so recent
/// names are kept in a small direct-mapped cache (a string value is two
/// allocations); its size bounds what it holds.
fn name_value(k: Sym) -> Value {
    const N: usize = 256;
    /// (address of the name, its string value)
    type Slot = Option<(usize, Rc<NixString>)>;
    thread_local! {
        static CACHE: std::cell::RefCell<Vec<Slot>> = std::cell::RefCell::new(vec![None; N]);
    }
    // Interned names are distinct allocations: the address (with the
    // length, for names that are not interned) identifies the name.
    let addr = k.as_ptr() as usize;
    let slot = (addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) % N;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((a, s)) = &c[slot] {
            if *a == addr && s.s.len() == k.len() {
                return Value::Str(s.clone());
            }
        }
        let s = Rc::new(NixString::plain(k));
        c[slot] = Some((addr, s.clone()));
        Value::Str(s)
    })
}

/// The values of each name in `sets`, in list order, sorted by name.
/// Each group's vector is allocated once with its exact size: module
/// merges zip tens of thousands of sets, and growing the vectors by
/// doubling (and the ordered map it used to take) was a large part of
/// their cost.
fn group_by_name(sets: &[Rc<Attrs>]) -> Vec<(Sym, Vec<Value>)> {
    let Some(first) = sets.first() else {
        return Vec::new();
    };
    // The common shapes first: one set, or sets with the same names
    // (the definitions of one submodule): one group per name, no lookups.
    let names = first.entries();
    let same = sets[1..].iter().all(|s| {
        let e = s.entries();
        e.len() == names.len() && e.iter().zip(names).all(|(x, y)| cmp_name(x.0, y.0).is_eq())
    });
    if same {
        return names
            .iter()
            .enumerate()
            .map(|(i, (k, _))| {
                let mut vs = Vec::with_capacity(sets.len());
                vs.extend(sets.iter().map(|s| s.entries()[i].1.clone()));
                (*k, vs)
            })
            .collect();
    }
    // General case: number the names in order of first appearance (one
    // hash lookup per entry), size each group, then fill and sort.
    let total: usize = sets.iter().map(|s| s.entries().len()).sum();
    let mut index: rustc_hash::FxHashMap<&str, u32> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(total, Default::default());
    let mut order: Vec<(Sym, u32)> = Vec::new(); // (name, count)
    let mut which: Vec<u32> = Vec::with_capacity(total);
    for s in sets {
        for (k, _) in s.entries() {
            let n = order.len() as u32;
            let g = *index.entry(k).or_insert(n);
            if g == n {
                order.push((k, 0));
            }
            order[g as usize].1 += 1;
            which.push(g);
        }
    }
    let mut groups: Vec<(Sym, Vec<Value>)> = order
        .iter()
        .map(|(k, n)| (*k, Vec::with_capacity(*n as usize)))
        .collect();
    let mut w = which.iter();
    for s in sets {
        for (_, v) in s.entries() {
            let g = *w.next().expect("one group index per entry");
            groups[g as usize].1.push(v.clone());
        }
    }
    // Sort by name through an integer key (the first 8 bytes): most
    // names differ there, so most comparisons are one integer compare.
    let mut keys: Vec<(u64, u32)> = order
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (name_prefix(k), i as u32))
        .collect();
    keys.sort_unstable_by(|x, y| {
        x.0.cmp(&y.0)
            .then_with(|| cmp_name(order[x.1 as usize].0, order[y.1 as usize].0))
    });
    let mut slots: Vec<Option<(Sym, Vec<Value>)>> = groups.into_iter().map(Some).collect();
    keys.iter()
        .map(|(_, i)| slots[*i as usize].take().expect("each group taken once"))
        .collect()
}

/// The first 8 bytes of a name as a big-endian integer, zero-padded:
/// ordering by it agrees with byte order wherever the prefixes differ.
fn name_prefix(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut x = [0u8; 8];
    let n = b.len().min(8);
    x[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(x)
}

fn function_args(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = forced(ev, &a[0])?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The name cache hands back the name asked for, whatever evicted
    /// what (names sharing an address prefix, one name a prefix of another).
    #[test]
    fn name_values_are_their_names() {
        let long = sym("abcdefghijklmnop");
        let names: Vec<Sym> = (0..3000)
            .map(|i| sym(&format!("n{}", i % 700)))
            .chain([long, &long[..3], &long[..0], "enable", "port"])
            .collect();
        for round in 0..3 {
            for (i, n) in names.iter().enumerate() {
                let k = names[(i * 7 + round) % names.len()];
                for k in [*n, k] {
                    match name_value(k) {
                        Value::Str(s) => assert_eq!(s.s, k, "round {round}"),
                        _ => panic!("not a string"),
                    }
                }
            }
        }
    }

    /// `group_by_name` agrees with an ordered-map model on random lists of
    /// sets whose names share long prefixes or are prefixes of each other.
    #[test]
    fn grouping_matches_a_map() {
        let mut seed: u64 = 0x2545f4914f6cdd1d;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let stems = ["", "a", "abcdefgh", "abcdefghij", "z", "é"];
        for round in 0..300 {
            let nsets = rnd(6) as usize;
            let mut sets = Vec::new();
            let mut model: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for s in 0..nsets {
                let mut m: BTreeMap<String, i64> = BTreeMap::new();
                for _ in 0..rnd(5) {
                    let name = format!(
                        "{}{}",
                        stems[rnd(stems.len() as u64) as usize],
                        match rnd(3) {
                            0 => String::new(),
                            _ => rnd(12).to_string(),
                        }
                    );
                    m.insert(name, (round * 100 + s) as i64);
                }
                for (k, v) in &m {
                    model.entry(k.clone()).or_default().push(*v);
                }
                let entries = m.iter().map(|(k, v)| (sym(k), Value::Int(*v))).collect();
                sets.push(Rc::new(Attrs::from_unsorted(entries)));
            }
            let got: Vec<(String, Vec<i64>)> = group_by_name(&sets)
                .into_iter()
                .map(|(k, vs)| {
                    let vs = vs
                        .iter()
                        .map(|v| match v {
                            Value::Int(i) => *i,
                            _ => panic!("not an int"),
                        })
                        .collect();
                    (k.to_string(), vs)
                })
                .collect();
            let want: Vec<(String, Vec<i64>)> = model.into_iter().collect();
            assert_eq!(got, want, "round {round}");
        }
    }
}
