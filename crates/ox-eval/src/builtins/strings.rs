//! String builtins, regular expressions, versions and string contexts.

use std::collections::BTreeSet;
use std::rc::Rc;

use super::*;

pub(super) fn register(r: &mut Registry) {
    r.add("toString", 1, |ev, a, span| {
        let s = ev.coerce_to_string(a[0].clone(), span, true, false)?;
        Ok(Value::Str(Rc::new(s)))
    });
    r.add("stringLength", 1, |ev, a, span| {
        let s = ev.coerce_to_string(a[0].clone(), span, false, true)?;
        Ok(Value::Int(s.s.len() as i64))
    });
    r.add("substring", 3, substring);
    r.add("concatStringsSep", 2, concat_strings_sep);
    r.add("replaceStrings", 3, replace_strings);
    r.add("baseNameOf", 1, base_name_of);
    r.add("dirOf", 1, dir_of);
    r.add("isString", 1, |ev, a, _| {
        Ok(Value::Bool(matches!(forced(ev, &a[0])?, Value::Str(_))))
    });
    r.add("match", 2, match_);
    r.add("split", 2, split);
    r.add("splitVersion", 1, split_version);
    r.add("compareVersions", 2, compare_versions);
    r.add("parseDrvName", 1, parse_drv_name);
    r.add("hasContext", 1, |ev, a, span| {
        let s = string_arg(ev, &a[0], "the argument of builtins.hasContext", span)?;
        Ok(Value::Bool(s.ctx.as_ref().is_some_and(|c| !c.is_empty())))
    });
    r.add("unsafeDiscardStringContext", 1, |ev, a, span| {
        let s = ev.coerce_to_string(a[0].clone(), span, false, true)?;
        Ok(Value::str(s.s))
    });
    r.add("unsafeDiscardOutputDependency", 1, |ev, a, span| {
        let s = ev.coerce_to_string(a[0].clone(), span, false, true)?;
        let ctx = s.ctx.map(|c| {
            Rc::new(
                c.iter()
                    .map(|e| e.strip_prefix('=').unwrap_or(e).to_string())
                    .collect::<BTreeSet<_>>(),
            )
        });
        Ok(Value::str_ctx(s.s, ctx))
    });
    r.add("getContext", 1, get_context);
    r.add("appendContext", 2, append_context);
}

fn substring(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let start = int_arg(
        ev,
        &a[0],
        "the first argument (start) of builtins.substring",
        span,
    )?;
    let len = int_arg(
        ev,
        &a[1],
        "the second argument (length) of builtins.substring",
        span,
    )?;
    let s = ev.coerce_to_string(a[2].clone(), span, false, true)?;
    if start < 0 {
        return err(
            ErrorKind::Other,
            "negative start position in 'substring'",
            span,
        );
    }
    let bytes = s.s.as_bytes();
    let start = (start as usize).min(bytes.len());
    let end = if len < 0 {
        bytes.len()
    } else {
        start.saturating_add(len as usize).min(bytes.len())
    };
    let sub = String::from_utf8_lossy(&bytes[start..end]).into_owned();
    Ok(Value::str_ctx(sub, s.ctx))
}

fn concat_strings_sep(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let sep = string_arg(
        ev,
        &a[0],
        "the first argument of builtins.concatStringsSep",
        span,
    )?;
    let l = list_arg(
        ev,
        &a[1],
        "the second argument of builtins.concatStringsSep",
        span,
    )?;
    let mut out = String::new();
    let mut ctx = sep.ctx.clone();
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            out.push_str(&sep.s);
        }
        let s = ev.coerce_to_string(x.clone(), span, false, true)?;
        out.push_str(&s.s);
        ctx = merge_ctx(&ctx, &s.ctx);
    }
    Ok(Value::str_ctx(out, ctx))
}

fn replace_strings(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let from = list_arg(
        ev,
        &a[0],
        "the first argument of builtins.replaceStrings",
        span,
    )?;
    let to = list_arg(
        ev,
        &a[1],
        "the second argument of builtins.replaceStrings",
        span,
    )?;
    let s = string_arg(
        ev,
        &a[2],
        "the third argument of builtins.replaceStrings",
        span,
    )?;
    if from.len() != to.len() {
        return err(
            ErrorKind::Other,
            "'from' and 'to' arguments passed to builtins.replaceStrings have different lengths",
            span,
        );
    }
    let mut froms = Vec::with_capacity(from.len());
    for f in from.iter() {
        froms.push(string_arg(
            ev,
            f,
            "an element of the 'from' list of builtins.replaceStrings",
            span,
        )?);
    }
    // 'to' strings are forced only when used
    let mut tos: Vec<Option<Rc<NixString>>> = vec![None; to.len()];
    let bytes = s.s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut ctx = s.ctx.clone();
    // Bytes that can start a match: runs of other bytes are copied whole
    // (not possible when a pattern is empty, since that matches anywhere).
    let mut starts = [false; 256];
    let skip = froms.iter().all(|f| !f.s.is_empty());
    for f in froms.iter() {
        if let Some(b) = f.s.as_bytes().first() {
            starts[*b as usize] = true;
        }
    }
    let mut p = 0;
    while p <= bytes.len() {
        if skip {
            let run = bytes[p..]
                .iter()
                .take_while(|b| !starts[**b as usize])
                .count();
            out.extend_from_slice(&bytes[p..p + run]);
            p += run;
            if p == bytes.len() {
                break;
            }
        }
        let mut found = false;
        for (j, f) in froms.iter().enumerate() {
            let fb = f.s.as_bytes();
            // first byte inline: a `memcmp` call per position and pattern
            // was most of the cost
            if fb.first().is_none_or(|c| bytes.get(p) == Some(c)) && bytes[p..].starts_with(fb) {
                found = true;
                if tos[j].is_none() {
                    tos[j] = Some(string_arg(
                        ev,
                        &to[j],
                        "an element of the 'to' list of builtins.replaceStrings",
                        span,
                    )?);
                }
                let t = tos[j].as_ref().expect("just set");
                out.extend_from_slice(t.s.as_bytes());
                ctx = merge_ctx(&ctx, &t.ctx);
                if fb.is_empty() {
                    if p < bytes.len() {
                        out.push(bytes[p]);
                    }
                    p += 1;
                } else {
                    p += fb.len();
                }
                break;
            }
        }
        if !found {
            if p < bytes.len() {
                out.push(bytes[p]);
            }
            p += 1;
        }
    }
    let out = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok(Value::str_ctx(out, ctx))
}

fn base_name_of(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = ev.coerce_to_string(a[0].clone(), span, false, false)?;
    let t = s.s.strip_suffix('/').unwrap_or(&s.s);
    let base = match t.rfind('/') {
        Some(i) => &t[i + 1..],
        None => t,
    };
    Ok(Value::str_ctx(base.to_string(), s.ctx.clone()))
}

fn dir_of(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let v = forced(ev, &a[0])?;
    let is_path = matches!(v, Value::Path(_));
    let s = ev.coerce_to_string(v, span, false, false)?;
    let d = match s.s.rfind('/') {
        None => ".".to_string(),
        Some(0) => "/".to_string(),
        Some(i) => s.s[..i].to_string(),
    };
    if is_path {
        Ok(Value::Path(d.into()))
    } else {
        Ok(Value::str_ctx(d, s.ctx))
    }
}

/// Translate a POSIX extended regular expression (what Nix uses) into
/// the `regex` crate's syntax.
fn posix_to_rust(re: &str) -> String {
    let mut out = String::with_capacity(re.len() + 8);
    let chars: Vec<char> = re.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            out.push(c);
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '[' {
            // copy the bracket expression, escaping what `regex` treats
            // specially inside classes but POSIX does not
            out.push('[');
            i += 1;
            if i < chars.len() && chars[i] == '^' {
                out.push('^');
                i += 1;
            }
            if i < chars.len() && chars[i] == ']' {
                out.push_str("\\]");
                i += 1;
            }
            while i < chars.len() && chars[i] != ']' {
                if chars[i] == '[' && i + 1 < chars.len() && chars[i + 1] == ':' {
                    if let Some(end) = chars[i + 2..].iter().position(|&c| c == ']') {
                        let cls: String = chars[i..i + 2 + end + 1].iter().collect();
                        out.push_str(&cls);
                        i += 2 + end + 1;
                        continue;
                    }
                }
                match chars[i] {
                    '[' | '\\' | '&' | '~' | '-' if chars[i] != '-' => {
                        out.push('\\');
                        out.push(chars[i]);
                    }
                    ch => out.push(ch),
                }
                i += 1;
            }
            if i < chars.len() {
                out.push(']');
                i += 1;
            }
            continue;
        }
        if c == '{' && !(i + 1 < chars.len() && chars[i + 1].is_ascii_digit()) {
            out.push_str("\\{");
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn compile_regex(ev: &mut Eval, re: &str, anchored: bool, span: Span) -> Result<regex::Regex> {
    let key = format!("{}{}", if anchored { "A" } else { "U" }, re);
    if let Some(r) = ev.regex_cache.get(&key) {
        return Ok(r.clone());
    }
    let body = posix_to_rust(re);
    // POSIX `.` matches newlines too
    let src = if anchored {
        format!("(?s)^(?:{})$", body)
    } else {
        format!("(?s){}", body)
    };
    match regex::Regex::new(&src) {
        Ok(r) => {
            ev.regex_cache.insert(key, r.clone());
            Ok(r)
        }
        Err(e) => err(
            ErrorKind::Other,
            format!("invalid regular expression '{}': {}", re, e),
            span,
        ),
    }
}

fn match_(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let re = string_arg(ev, &a[0], "the first argument of builtins.match", span)?;
    let s = ev.coerce_to_string(a[1].clone(), span, false, true)?;
    let r = compile_regex(ev, &re.s, true, span)?;
    match r.captures(&s.s) {
        None => Ok(Value::Null),
        Some(c) => Ok(Value::list(
            (1..c.len())
                .map(|i| match c.get(i) {
                    Some(m) => Value::str(m.as_str()),
                    None => Value::Null,
                })
                .collect(),
        )),
    }
}

fn split(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let re = string_arg(ev, &a[0], "the first argument of builtins.split", span)?;
    let s = ev.coerce_to_string(a[1].clone(), span, false, true)?;
    let r = compile_regex(ev, &re.s, false, span)?;
    let mut out = Vec::new();
    let mut last = 0;
    for c in r.captures_iter(&s.s) {
        let m = c.get(0).expect("group 0 always exists");
        out.push(Value::str(&s.s[last..m.start()]));
        out.push(Value::list(
            (1..c.len())
                .map(|i| match c.get(i) {
                    Some(m) => Value::str(m.as_str()),
                    None => Value::Null,
                })
                .collect(),
        ));
        last = m.end();
    }
    out.push(Value::str(&s.s[last..]));
    Ok(Value::list(out))
}

fn next_component(s: &str, mut i: usize) -> (String, usize) {
    let b = s.as_bytes();
    while i < b.len() && (b[i] == b'.' || b[i] == b'-') {
        i += 1;
    }
    let start = i;
    if i < b.len() && b[i].is_ascii_digit() {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    } else {
        while i < b.len() && !b[i].is_ascii_digit() && b[i] != b'.' && b[i] != b'-' {
            i += 1;
        }
    }
    (s[start..i].to_string(), i)
}

pub(crate) fn split_version_str(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let (c, j) = next_component(s, i);
        if c.is_empty() {
            break;
        }
        out.push(c);
        i = j;
    }
    out
}

fn components_lt(c1: &str, c2: &str) -> bool {
    let n1: Option<u64> = if !c1.is_empty() && c1.bytes().all(|b| b.is_ascii_digit()) {
        c1.parse().ok()
    } else {
        None
    };
    let n2: Option<u64> = if !c2.is_empty() && c2.bytes().all(|b| b.is_ascii_digit()) {
        c2.parse().ok()
    } else {
        None
    };
    match (n1, n2) {
        (Some(a), Some(b)) => a < b,
        _ => {
            // "" and "pre" sort before everything else
            if (c1.is_empty() && n2.is_some()) || (c1 == "pre" && c2 != "pre") {
                true
            } else if c2 == "pre" {
                false
            } else if n2.is_some() {
                true
            } else if n1.is_some() {
                false
            } else {
                c1 < c2
            }
        }
    }
}

pub(crate) fn compare_versions_str(a: &str, b: &str) -> i64 {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let (c1, ni) = next_component(a, i);
        let (c2, nj) = next_component(b, j);
        i = ni;
        j = nj;
        if components_lt(&c1, &c2) {
            return -1;
        }
        if components_lt(&c2, &c1) {
            return 1;
        }
        if c1.is_empty() && c2.is_empty() {
            break;
        }
    }
    0
}

fn split_version(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = ev.coerce_to_string(a[0].clone(), span, false, false)?;
    Ok(Value::list(
        split_version_str(&s.s)
            .into_iter()
            .map(Value::str)
            .collect(),
    ))
}

fn compare_versions(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let x = ev.coerce_to_string(a[0].clone(), span, false, false)?;
    let y = ev.coerce_to_string(a[1].clone(), span, false, false)?;
    Ok(Value::Int(compare_versions_str(&x.s, &y.s)))
}

fn parse_drv_name(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = ev.coerce_to_string(a[0].clone(), span, false, false)?;
    let b = s.s.as_bytes();
    let mut split_at = None;
    for i in 0..b.len() {
        if b[i] == b'-' && i + 1 < b.len() && !b[i + 1].is_ascii_alphabetic() {
            split_at = Some(i);
            break;
        }
    }
    let (name, version) = match split_at {
        Some(i) => (&s.s[..i], &s.s[i + 1..]),
        None => (&s.s[..], ""),
    };
    Ok(Value::attrs(Attrs::from_sorted(vec![
        ("name", Value::str(name)),
        ("version", Value::str(version)),
    ])))
}

fn get_context(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = string_arg(ev, &a[0], "the argument of builtins.getContext", span)?;
    // path -> (path?, allOutputs?, outputs)
    let mut m: std::collections::BTreeMap<String, (bool, bool, Vec<String>)> = Default::default();
    if let Some(c) = &s.ctx {
        for e in c.iter() {
            if let Some(p) = e.strip_prefix('=') {
                m.entry(p.to_string()).or_default().1 = true;
            } else if let Some(rest) = e.strip_prefix('!') {
                if let Some((out, drv)) = rest.split_once('!') {
                    m.entry(drv.to_string())
                        .or_default()
                        .2
                        .push(out.to_string());
                }
            } else {
                m.entry(e.clone()).or_default().0 = true;
            }
        }
    }
    let entries = m
        .into_iter()
        .map(|(k, (path, all, outs))| {
            let mut info = Vec::new();
            if all {
                info.push(("allOutputs", Value::Bool(true)));
            }
            if !outs.is_empty() {
                info.push((
                    "outputs",
                    Value::list(outs.into_iter().map(Value::str).collect()),
                ));
            }
            if path {
                info.push(("path", Value::Bool(true)));
            }
            (sym(&k), Value::attrs(Attrs::from_sorted(info)))
        })
        .collect();
    Ok(Value::attrs(Attrs::from_sorted(entries)))
}

fn append_context(ev: &mut Eval, a: &[Value], span: Span) -> Result<Value> {
    let s = string_arg(
        ev,
        &a[0],
        "the first argument of builtins.appendContext",
        span,
    )?;
    let c = attrs_arg(
        ev,
        &a[1],
        "the second argument of builtins.appendContext",
        span,
    )?;
    let mut set: BTreeSet<String> = s.ctx.as_ref().map(|c| (**c).clone()).unwrap_or_default();
    for (path, info) in c.entries().iter() {
        let info = attrs_arg(ev, info, "a value of the context set", span)?;
        if let Some(p) = info.get("path") {
            if bool_of(ev, p, "the 'path' attribute", span)? {
                set.insert(path.to_string());
            }
        }
        if let Some(p) = info.get("allOutputs") {
            if bool_of(ev, p, "the 'allOutputs' attribute", span)? {
                set.insert(format!("={}", path));
            }
        }
        if let Some(o) = info.get("outputs") {
            let outs = list_arg(ev, o, "the 'outputs' attribute", span)?;
            for out in outs.iter() {
                let name = string_arg(ev, out, "an output name", span)?;
                set.insert(format!("!{}!{}", name.s, path));
            }
        }
    }
    let ctx = if set.is_empty() {
        None
    } else {
        Some(Rc::new(set))
    };
    Ok(Value::str_ctx(s.s.clone(), ctx))
}
