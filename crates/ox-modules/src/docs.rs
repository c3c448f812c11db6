//! Option documentation: every visible option of a module set in the
//! shape of NixOS's `options.json`, and a Markdown rendering of it.

use ox_eval::{Eval, Result, Value};

const DOC_EXPR: &str = r#"
lib: x:
let
  conf = if builtins.isAttrs x && (x._type or null) == "configuration" then x
    else lib.evalModules { modules = lib.toList x; };
  docs = builtins.filter (o: o.visible && !o.internal) (lib.optionAttrSetToDocList conf.options);
in builtins.listToAttrs (map (o: { name = o.name; value = removeAttrs o [ "name" "visible" "internal" ]; }) docs)
"#;

/// `value` is an `evalModules` result, a module or a list of modules.
pub fn options_json(ev: &mut Eval, lib: Value, value: Value) -> Result<serde_json::Value> {
    let f = ev.eval_string(DOC_EXPR, "«ox options»", "/")?;
    let r = ev.call2(f, lib, value, None)?;
    let r = ev.force_deep(r)?;
    let span = crate::util::nospan();
    let text = ox_eval::print::to_json(ev, r, false, span)?;
    serde_json::from_str(&text).map_err(|e| {
        ox_eval::EvalError::new(
            ox_eval::error::ErrorKind::Other,
            format!("internal error: options JSON does not parse: {}", e),
            None,
        )
    })
}

fn literal(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(o) => match (o.get("_type"), o.get("text")) {
            (Some(serde_json::Value::String(t)), Some(serde_json::Value::String(text))) => {
                if t == "literalMD" {
                    text.clone()
                } else if text.contains('\n') {
                    format!("\n\n```nix\n{}\n```", text)
                } else {
                    format!("`{}`", text)
                }
            }
            _ => format!("`{}`", v),
        },
        other => format!("`{}`", other),
    }
}

/// Markdown in the style of the NixOS manual's option lists.
pub fn options_markdown(opts: &serde_json::Value) -> String {
    let mut out = String::new();
    let Some(map) = opts.as_object() else {
        return out;
    };
    let mut names: Vec<&String> = map.keys().collect();
    names.sort();
    for name in names {
        let o = &map[name];
        out.push_str(&format!("## `{}`\n\n", name));
        if let Some(d) = o.get("description").and_then(|d| d.as_str()) {
            out.push_str(d.trim_end());
            out.push_str("\n\n");
        }
        if let Some(t) = o.get("type").and_then(|d| d.as_str()) {
            out.push_str(&format!("*Type:* {}\n\n", t));
        }
        if let Some(d) = o.get("default") {
            out.push_str(&format!("*Default:* {}\n\n", literal(d)));
        }
        if let Some(e) = o.get("example") {
            out.push_str(&format!("*Example:* {}\n\n", literal(e)));
        }
        if o.get("readOnly").and_then(|r| r.as_bool()) == Some(true) {
            out.push_str("*Read only*\n\n");
        }
        if let Some(ds) = o.get("declarations").and_then(|d| d.as_array()) {
            if !ds.is_empty() {
                out.push_str("*Declared by:*\n");
                for d in ds {
                    out.push_str(&format!(" - `{}`\n", d.as_str().unwrap_or("?")));
                }
                out.push('\n');
            }
        }
    }
    out
}
