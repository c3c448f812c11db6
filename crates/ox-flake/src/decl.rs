//! Reading a `flake.nix`: its description, its `inputs` (with nested
//! `inputs.a.inputs.b…` overrides and `follows`), and the names the
//! `outputs` function takes (implicit inputs such as `ox`).

use std::collections::BTreeMap;
use std::path::Path;

use ox_eval::{Eval, Value};

use crate::flakeref::{Attr, Attrs, FlakeRef};
use crate::Error;

/// One `inputs.<name>` declaration, or a nested override of one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InputSpec {
    /// `url = …` or the attribute form (`type = …; …`).
    pub reference: Option<FlakeRef>,
    /// `follows = "a/b"`, split into input names (relative to the flake
    /// that declares it).
    pub follows: Option<Vec<String>>,
    /// `flake = false` for a plain source tree.
    pub flake: Option<bool>,
    /// `inputs.<name>.inputs.<child> = …`.
    pub overrides: BTreeMap<String, InputSpec>,
}

#[derive(Clone, Debug, Default)]
pub struct FlakeDecl {
    pub description: Option<String>,
    pub inputs: BTreeMap<String, InputSpec>,
}

fn ev_err(file: &str, e: Box<ox_eval::EvalError>) -> Error {
    Error::Eval {
        context: format!("while reading '{}'", file),
        message: ox_eval::render(&e, false),
    }
}

/// Evaluate `<dir>/flake.nix` far enough to know its inputs.
pub fn read_flake(ev: &mut Eval, dir: &Path) -> Result<FlakeDecl, Error> {
    let file = dir.join("flake.nix");
    let fname = file.display().to_string();
    if !file.is_file() {
        return Err(Error::NoFlake(dir.display().to_string()));
    }
    let bad = |why: String| Error::BadFlake {
        file: fname.clone(),
        why,
    };
    let v = ev.eval_file(&file).map_err(|e| ev_err(&fname, e))?;
    let Value::Attrs(top) = v else {
        return Err(bad(format!(
            "flake.nix must be an attribute set, not {}",
            v.type_name()
        )));
    };
    for (k, _) in top.entries() {
        if !matches!(*k, "description" | "inputs" | "outputs" | "nixConfig") {
            return Err(bad(format!(
                "unsupported top-level attribute '{}' (a flake has description, inputs, outputs and nixConfig)",
                k
            )));
        }
    }
    let mut decl = FlakeDecl::default();
    if let Some(d) = top.get("description") {
        match ev.force(d.clone()).map_err(|e| ev_err(&fname, e))? {
            Value::Str(s) => decl.description = Some(s.s.clone()),
            o => {
                return Err(bad(format!(
                    "'description' must be a string, not {}",
                    o.type_name()
                )))
            }
        }
    }
    if let Some(i) = top.get("inputs") {
        let i = ev.force(i.clone()).map_err(|e| ev_err(&fname, e))?;
        let Value::Attrs(ins) = i else {
            return Err(bad(format!(
                "'inputs' must be an attribute set, not {}",
                i.type_name()
            )));
        };
        for (name, spec) in ins.entries() {
            let s = parse_spec(ev, spec.clone(), name, &fname)?;
            decl.inputs.insert(name.to_string(), s);
        }
    }
    let Some(outputs) = top.get("outputs") else {
        return Err(bad("the flake has no 'outputs'".into()));
    };
    let outputs = ev.force(outputs.clone()).map_err(|e| ev_err(&fname, e))?;
    if !outputs.is_function() {
        return Err(bad(format!(
            "'outputs' must be a function, not {}",
            outputs.type_name()
        )));
    }
    // Arguments of `outputs` not declared as inputs are implicit inputs
    // named after themselves (as in Nix, where they resolve through the
    // registry; ox's registry knows `ox`).
    if let Value::Lambda(c) = &outputs {
        if let Some(f) = &c.def.formals {
            for (name, _) in &f.entries {
                if *name != "self" && !decl.inputs.contains_key(*name) {
                    decl.inputs.insert(name.to_string(), InputSpec::default());
                }
            }
        }
    }
    Ok(decl)
}

fn parse_spec(ev: &mut Eval, v: Value, name: &str, fname: &str) -> Result<InputSpec, Error> {
    let bad = |why: String| Error::BadFlake {
        file: fname.to_string(),
        why: format!("input '{}': {}", name, why),
    };
    let v = ev.force(v).map_err(|e| ev_err(fname, e))?;
    let Value::Attrs(a) = v else {
        return Err(bad(format!(
            "expected an attribute set such as {{ url = \"…\"; }}, not {}",
            v.type_name()
        )));
    };
    let mut spec = InputSpec::default();
    let mut ref_attrs = Attrs::new();
    for (k, x) in a.entries() {
        let x = ev.force(x.clone()).map_err(|e| ev_err(fname, e))?;
        match (*k, &x) {
            ("url", Value::Str(s)) => {
                spec.reference = Some(FlakeRef::parse(&s.s).map_err(|e| bad(e.to_string()))?)
            }
            ("flake", Value::Bool(b)) => spec.flake = Some(*b),
            ("follows", Value::Str(s)) => {
                spec.follows = Some(
                    s.s.split('/')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            ("inputs", Value::Attrs(nested)) => {
                for (cn, cv) in nested.entries() {
                    let c = parse_spec(ev, cv.clone(), &format!("{}/{}", name, cn), fname)?;
                    spec.overrides.insert(cn.to_string(), c);
                }
            }
            ("url" | "follows" | "flake" | "inputs", o) => {
                return Err(bad(format!(
                    "'{}' has the wrong type ({})",
                    k,
                    o.type_name()
                )))
            }
            (_, Value::Str(s)) => {
                ref_attrs.insert(k.to_string(), Attr::Str(s.s.clone()));
            }
            (_, Value::Int(i)) if *i >= 0 => {
                ref_attrs.insert(k.to_string(), Attr::Int(*i as u64));
            }
            (_, Value::Bool(b)) => {
                ref_attrs.insert(k.to_string(), Attr::Bool(*b));
            }
            (_, o) => {
                return Err(bad(format!(
                    "attribute '{}' must be a string, integer or Boolean, not {}",
                    k,
                    o.type_name()
                )))
            }
        }
    }
    if !ref_attrs.is_empty() {
        if spec.reference.is_some() {
            // `url` plus extra attributes (e.g. `dir`): merge them.
            let mut r = spec.reference.take().unwrap_or_else(|| FlakeRef::new(""));
            for (k, v) in ref_attrs {
                r.set(&k, v);
            }
            spec.reference = Some(r);
        } else {
            spec.reference = Some(FlakeRef::from_attrs(ref_attrs).map_err(|e| bad(e.to_string()))?);
        }
    }
    if spec.follows.is_some() && spec.reference.is_some() {
        return Err(bad("an input cannot have both 'follows' and a url".into()));
    }
    Ok(spec)
}
