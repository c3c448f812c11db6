//! List builtins.

use super::*;

pub(super) fn register(r: &mut Registry) {
    r.add("map", 2, map);
    r.add("filter", 2, filter);
    r.add("foldl'", 3, foldl);
    r.add("length", 1, length);
    r.add("head", 1, head);
    r.add("tail", 1, tail);
    r.add("elemAt", 2, elem_at);
    r.add("elem", 2, elem);
    r.add("concatLists", 1, concat_lists);
    r.add("concatMap", 2, concat_map);
    r.add("genList", 2, gen_list);
    r.add("all", 2, all);
    r.add("any", 2, any);
    r.add("sort", 2, sort);
    r.add("partition", 2, partition);
    r.add("groupBy", 2, group_by);
    r.add("isList", 1, |ev, a, _| {
        Ok(Value::Bool(matches!(forced(ev, &a[0])?, Value::List(_))))
    });
}

/// The test of a type-predicate primop (`isAttrs`, `isList`, …), so that
/// `all isAttrs xs` and `filter isString xs` test each element in place
/// instead of calling the primop (an argument vector per element).
fn type_pred(f: &Value) -> Option<fn(&Value) -> bool> {
    let Value::PrimOp(op) = f else {
        return None;
    };
    if op.arity != 1 {
        return None;
    }
    Some(match op.name {
        "isAttrs" => |v| matches!(v, Value::Attrs(_)),
        "isList" => |v| matches!(v, Value::List(_)),
        "isString" => |v| matches!(v, Value::Str(_)),
        "isInt" => |v| matches!(v, Value::Int(_)),
        "isFloat" => |v| matches!(v, Value::Float(_)),
        "isBool" => |v| matches!(v, Value::Bool(_)),
        "isNull" => |v| matches!(v, Value::Null),
        "isPath" => |v| matches!(v, Value::Path(_)),
        "isFunction" => |v| v.is_function(),
        _ => return None,
    })
}

/// `p x` on the forced element (as the primop would force it).
#[inline]
fn test_forced(ev: &mut Eval, p: fn(&Value) -> bool, x: &Value) -> Result<bool> {
    match x {
        Value::Thunk(t) => match t.done_ref() {
            Some(v) => Ok(p(v)),
            None => Ok(p(&ev.force_thunk(t)?)),
        },
        v => Ok(p(v)),
    }
}

fn map(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(ev, &a[1], "the second argument of builtins.map", span)?;
    if l.is_empty() {
        return Ok(Value::list(Vec::new()));
    }
    let f = Thunk::of(a[0].clone());
    Ok(Value::list(
        l.iter().map(|x| Thunk::apply(&f, x.clone())).collect(),
    ))
}

fn filter(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(ev, &a[0], "the first argument of builtins.filter", span)?;
    let l = list_arg(ev, &a[1], "the second argument of builtins.filter", span)?;
    let mut out = Vec::new();
    let mut same = true;
    let mut frames = crate::eval::Frames::default();
    let pred = type_pred(&f);
    for x in l.iter() {
        let keep = match pred {
            Some(p) => test_forced(ev, p, x)?,
            None => {
                let r = ev.call_in(&mut frames, &f, x.clone(), Some(span))?;
                bool_of(ev, &r, "the return value of the filter function", span)?
            }
        };
        if keep {
            out.push(x.clone());
        } else {
            same = false;
        }
    }
    if same {
        return Ok(Value::List(l));
    }
    Ok(Value::list(out))
}

fn foldl(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(ev, &a[0], "the first argument of builtins.foldl'", span)?;
    let l = list_arg(ev, &a[2], "the third argument of builtins.foldl'", span)?;
    let mut acc = a[1].clone();
    if l.is_empty() {
        return ev.force(acc);
    }
    let mut frames = crate::eval::Frames::default();
    for x in l.iter() {
        acc = ev.call2_in(&mut frames, &f, acc, x.clone(), Some(span))?;
        acc = ev.force(acc)?;
    }
    Ok(acc)
}

fn length(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(ev, &a[0], "the argument of builtins.length", span)?;
    Ok(Value::Int(l.len() as i64))
}

fn head(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(ev, &a[0], "the argument of builtins.head", span)?;
    match l.first() {
        Some(x) => forced(ev, x),
        None => err(
            ErrorKind::Other,
            "'builtins.head' called on an empty list",
            span,
        ),
    }
}

fn tail(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(ev, &a[0], "the argument of builtins.tail", span)?;
    if l.is_empty() {
        return err(
            ErrorKind::Other,
            "'builtins.tail' called on an empty list",
            span,
        );
    }
    Ok(Value::list(l[1..].to_vec()))
}

fn elem_at(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(ev, &a[0], "the first argument of builtins.elemAt", span)?;
    let i = int_arg(ev, &a[1], "the second argument of builtins.elemAt", span)?;
    if i < 0 || i as usize >= l.len() {
        return err(
            ErrorKind::Other,
            format!(
                "list index {} is out of bounds (the list has {} elements)",
                i,
                l.len()
            ),
            span,
        );
    }
    forced(ev, &l[i as usize])
}

fn elem(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(ev, &a[1], "the second argument of builtins.elem", span)?;
    for x in l.iter() {
        if ev.equal(a[0].clone(), x.clone(), span)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn concat_lists(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let l = list_arg(ev, &a[0], "the argument of builtins.concatLists", span)?;
    let mut parts: Vec<Rc<ListVec>> = Vec::with_capacity(l.len());
    let mut total = 0;
    for x in l.iter() {
        let inner = list_arg(
            ev,
            x,
            "an element of the list passed to builtins.concatLists",
            span,
        )?;
        total += inner.len();
        if !inner.is_empty() {
            parts.push(inner);
        }
    }
    // One non-empty list (a merge of one definition): that list itself.
    if parts.len() == 1 {
        return Ok(Value::List(parts.pop().expect("one part")));
    }
    let mut out = Vec::with_capacity(total);
    for p in &parts {
        out.extend(p.iter().cloned());
    }
    Ok(Value::list(out))
}

fn concat_map(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(ev, &a[0], "the first argument of builtins.concatMap", span)?;
    let l = list_arg(ev, &a[1], "the second argument of builtins.concatMap", span)?;
    let mut out = Vec::new();
    let mut frames = crate::eval::Frames::default();
    for x in l.iter() {
        let r = ev.call_in(&mut frames, &f, x.clone(), Some(span))?;
        let inner = list_arg(
            ev,
            &r,
            "the return value of the function passed to builtins.concatMap",
            span,
        )?;
        out.extend(inner.iter().cloned());
    }
    Ok(Value::list(out))
}

fn gen_list(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let n = int_arg(ev, &a[1], "the second argument of builtins.genList", span)?;
    if n < 0 {
        return err(
            ErrorKind::Other,
            format!("cannot create list of size {}", n),
            span,
        );
    }
    if n == 0 {
        return Ok(Value::list(Vec::new()));
    }
    // `genList (i: i) n` (an evaluated identity): elements that hold
    // only their integer, still unevaluated (printed `<CODE>`)
    let identity = match &a[0] {
        Value::Lambda(c) => c.def.is_identity(),
        Value::Thunk(t) => t.is_identity(),
        _ => false,
    };
    let f = Thunk::of(a[0].clone());
    Ok(Value::list(
        (0..n).map(|i| Thunk::apply_int(&f, identity, i)).collect(),
    ))
}

fn all(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(ev, &a[0], "the first argument of builtins.all", span)?;
    let l = list_arg(ev, &a[1], "the second argument of builtins.all", span)?;
    if let Some(p) = type_pred(&f) {
        for x in l.iter() {
            if !test_forced(ev, p, x)? {
                return Ok(Value::Bool(false));
            }
        }
        return Ok(Value::Bool(true));
    }
    let mut frames = crate::eval::Frames::default();
    for x in l.iter() {
        let r = ev.call_in(&mut frames, &f, x.clone(), Some(span))?;
        if !bool_of(
            ev,
            &r,
            "the return value of the function passed to builtins.all",
            span,
        )? {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

fn any(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(ev, &a[0], "the first argument of builtins.any", span)?;
    let l = list_arg(ev, &a[1], "the second argument of builtins.any", span)?;
    if let Some(p) = type_pred(&f) {
        for x in l.iter() {
            if test_forced(ev, p, x)? {
                return Ok(Value::Bool(true));
            }
        }
        return Ok(Value::Bool(false));
    }
    let mut frames = crate::eval::Frames::default();
    for x in l.iter() {
        let r = ev.call_in(&mut frames, &f, x.clone(), Some(span))?;
        if bool_of(
            ev,
            &r,
            "the return value of the function passed to builtins.any",
            span,
        )? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// Stable merge sort with a fallible comparator.
fn sort(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(ev, &a[0], "the first argument of builtins.sort", span)?;
    let l = list_arg(ev, &a[1], "the second argument of builtins.sort", span)?;
    let mut v: Vec<Value> = l.iter().cloned().collect();
    for x in v.iter_mut() {
        *x = forced(ev, x)?;
    }
    let mut buf = v.clone();
    merge_sort(ev, &f, &mut v, &mut buf, span)?;
    Ok(Value::list(v))
}

fn less(ev: &mut Eval, f: &Value, x: &Value, y: &Value, span: Span) -> Result<bool> {
    // `a: b: a < b` and the like on integers: computed in place
    if let Some(Value::Bool(r)) = crate::eval::cheap_call2(f, x, y) {
        return Ok(r);
    }
    let r = ev.call2(f.clone(), x.clone(), y.clone(), Some(span))?;
    bool_of(ev, &r, "the return value of the sorting function", span)
}

fn merge_sort(
    ev: &mut Eval,
    f: &Value,
    v: &mut [Value],
    buf: &mut [Value],
    span: Span,
) -> Result<()> {
    let n = v.len();
    if n <= 1 {
        return Ok(());
    }
    if n <= 12 {
        // insertion sort: stable, few comparisons for short runs
        for i in 1..n {
            let mut j = i;
            while j > 0 && less(ev, f, &v[j], &v[j - 1], span)? {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        return Ok(());
    }
    let mid = n / 2;
    {
        let (l, r) = v.split_at_mut(mid);
        let (bl, br) = buf.split_at_mut(mid);
        merge_sort(ev, f, l, bl, span)?;
        merge_sort(ev, f, r, br, span)?;
    }
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        // take from the right only if strictly less: stability
        if less(ev, f, &v[j], &v[i], span)? {
            buf[k] = v[j].clone();
            j += 1;
        } else {
            buf[k] = v[i].clone();
            i += 1;
        }
        k += 1;
    }
    while i < mid {
        buf[k] = v[i].clone();
        i += 1;
        k += 1;
    }
    while j < n {
        buf[k] = v[j].clone();
        j += 1;
        k += 1;
    }
    v.clone_from_slice(&buf[..n]);
    Ok(())
}

fn partition(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(ev, &a[0], "the first argument of builtins.partition", span)?;
    let l = list_arg(ev, &a[1], "the second argument of builtins.partition", span)?;
    let (mut right, mut wrong) = (Vec::new(), Vec::new());
    let mut frames = crate::eval::Frames::default();
    for x in l.iter() {
        let r = ev.call_in(&mut frames, &f, x.clone(), Some(span))?;
        if bool_of(ev, &r, "the return value of the partition function", span)? {
            right.push(x.clone())
        } else {
            wrong.push(x.clone())
        }
    }
    Ok(Value::attrs(Attrs::from_sorted(vec![
        ("right", Value::list(right)),
        ("wrong", Value::list(wrong)),
    ])))
}

fn group_by(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let f = fn_arg(ev, &a[0], "the first argument of builtins.groupBy", span)?;
    let l = list_arg(ev, &a[1], "the second argument of builtins.groupBy", span)?;
    let mut groups: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let mut frames = crate::eval::Frames::default();
    for x in l.iter() {
        let k = ev.call_in(&mut frames, &f, x.clone(), Some(span))?;
        let k = string_arg(
            ev,
            &k,
            "the return value of the function passed to builtins.groupBy",
            span,
        )?;
        groups.entry(k.s.clone()).or_default().push(x.clone());
    }
    Ok(Value::attrs(Attrs::from_sorted(
        groups
            .into_iter()
            .map(|(k, v)| (sym(&k), Value::list(v)))
            .collect(),
    )))
}
