//! `builtins.toXML`, in exactly Nix's layout (two-space indentation,
//! self-closing scalar elements, `<repeated />` for derivations already
//! printed).

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::error::{Result, Span};
use crate::eval::Eval;
use crate::value::Value;

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            '\t' => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
}

struct W<'a> {
    out: &'a mut String,
    depth: usize,
}

impl W<'_> {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }
    fn tag(&mut self, tag: &str, attrs: &[(&str, &str)], self_closing: bool) {
        self.indent();
        let _ = write!(self.out, "<{}", tag);
        for (k, v) in attrs {
            let _ = write!(self.out, " {}=\"", k);
            escape(v, self.out);
            self.out.push('"');
        }
        self.out
            .push_str(if self_closing { " />\n" } else { ">\n" });
    }
    fn empty(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.tag(tag, attrs, true);
    }
    fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.tag(tag, attrs, false);
        self.depth += 1;
    }
    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{}>", tag);
    }
}

pub fn to_xml(ev: &mut Eval, v: Value, span: Span) -> Result<String> {
    let mut out = String::from("<?xml version='1.0' encoding='utf-8'?>\n");
    let mut w = W {
        out: &mut out,
        depth: 0,
    };
    w.open("expr", &[]);
    let mut drvs_seen = HashSet::new();
    value(ev, v, &mut w, &mut drvs_seen, span)?;
    w.close("expr");
    Ok(out)
}

fn value(ev: &mut Eval, v: Value, w: &mut W, seen: &mut HashSet<String>, span: Span) -> Result<()> {
    let v = ev.force(v)?;
    match &v {
        Value::Int(i) => w.empty("int", &[("value", &i.to_string())]),
        Value::Float(f) => w.empty("float", &[("value", &crate::print::format_float(*f))]),
        Value::Bool(b) => w.empty("bool", &[("value", if *b { "true" } else { "false" })]),
        Value::Null => w.empty("null", &[]),
        Value::Str(s) => w.empty("string", &[("value", &s.s)]),
        Value::Path(p) => w.empty("path", &[("value", p)]),
        Value::List(l) => {
            w.open("list", &[]);
            for x in l.iter() {
                value(ev, x.clone(), w, seen, span)?;
            }
            w.close("list");
        }
        Value::Attrs(a) => {
            if ev.is_derivation(a)? {
                let mut attrs: Vec<(&str, String)> = Vec::new();
                let mut drv_path = None;
                if let Some(d) = a.get("drvPath") {
                    let d = ev.force(d.clone())?;
                    if let Value::Str(s) = &d {
                        drv_path = Some(s.s.clone());
                        attrs.push(("drvPath", s.s.clone()));
                    }
                }
                if let Some(o) = a.get("outPath") {
                    let o = ev.force(o.clone())?;
                    if let Value::Str(s) = &o {
                        attrs.push(("outPath", s.s.clone()));
                    }
                }
                let attr_refs: Vec<(&str, &str)> =
                    attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                w.open("derivation", &attr_refs);
                let first = match &drv_path {
                    Some(p) => seen.insert(p.clone()),
                    None => true,
                };
                if first {
                    attrs_body(ev, a, w, seen, span)?;
                } else {
                    w.empty("repeated", &[]);
                }
                w.close("derivation");
            } else {
                w.open("attrs", &[]);
                attrs_body(ev, a, w, seen, span)?;
                w.close("attrs");
            }
        }
        Value::Lambda(c) => {
            w.open("function", &[]);
            match &c.def.formals {
                None => w.empty("varpat", &[("name", c.def.arg.unwrap_or(""))]),
                Some(f) => {
                    let mut attrs: Vec<(&str, &str)> = Vec::new();
                    if f.ellipsis {
                        attrs.push(("ellipsis", "1"));
                    }
                    if let Some(n) = &c.def.arg {
                        attrs.push(("name", n));
                    }
                    w.open("attrspat", &attrs);
                    let mut names: Vec<&str> = f.entries.iter().map(|(n, _)| &**n).collect();
                    names.sort();
                    for n in names {
                        w.empty("attr", &[("name", n)]);
                    }
                    w.close("attrspat");
                }
            }
            w.close("function");
        }
        Value::PrimOp(_) | Value::PrimOpApp(_) | Value::Thunk(_) => w.empty("unevaluated", &[]),
    }
    Ok(())
}

fn attrs_body(
    ev: &mut Eval,
    a: &crate::value::Attrs,
    w: &mut W,
    seen: &mut HashSet<String>,
    span: Span,
) -> Result<()> {
    for (k, x) in a.entries().iter() {
        w.open("attr", &[("name", k)]);
        value(ev, x.clone(), w, seen, span)?;
        w.close("attr");
    }
    Ok(())
}
