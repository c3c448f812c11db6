//! `ox option PATH`: an option of a host — its value, type, default,
//! description, where it is declared and every definition with its
//! `file:line` (from `definitionsWithLocations`' `line`), priority and
//! `mkOrder` order.
//! Inside `attrsOf (submodule …)` options (e.g. `systemd.services.foo.script`)
//! the declaration comes from the submodule and the definitions are the
//! parent option's definitions that set that path.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct OptionArgs {
    /// The option path, e.g. `networking.hostName` or `systemd.services.sshd.wantedBy`.
    pub path: String,
    /// The hosts file (an attribute set of evaluated hosts).
    #[arg(long, short = 'f', default_value = "hosts.nix")]
    pub file: std::path::PathBuf,
    /// The host (default: this machine's host name).
    #[arg(long)]
    pub host: Option<String>,
    /// A flake reference `REF#HOST` (the host from its `oxConfigurations`).
    #[arg(long)]
    pub flake: Option<String>,
    /// Add a search path entry (`PATH` or `PREFIX=PATH`).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The query, in Nix: walks `options` along the path, descending into
/// submodule types, and collects what the module system knows.
const QUERY: &str = r#"
host: path:
let
  inherit (builtins) head tail length isAttrs isFunction isList tryEval deepSeq filter map elemAt;
  isOption = x: isAttrs x && (x._type or null) == "option";
  clean = v:
    if isFunction v then "<function>"
    else if isAttrs v && (v.type or null) == "derivation" then "<derivation ${v.name or "?"}>"
    else if isAttrs v then builtins.mapAttrs (_: clean) v
    else if isList v then map clean v
    else v;
  attrAt = set: p:
    if p == [ ] then { ok = true; value = set; }
    else if isAttrs set && set ? ${head p} then attrAt set.${head p} (tail p)
    else { ok = false; };
  # unwrap mkIf/mkMerge/mkOverride just enough to follow a path
  defAt = v: p:
    if p == [ ] then [ v ]
    else if isAttrs v && (v._type or null) == "if" then (if v.condition then defAt v.content p else [ ])
    else if isAttrs v && (v._type or null) == "override" then defAt v.content p
    else if isAttrs v && (v._type or null) == "merge" then builtins.concatMap (c: defAt c p) v.contents
    else if isAttrs v && v ? ${head p} then defAt v.${head p} (tail p)
    else [ ];
  # the deepest declared (sub)option along `rest`, below option `o`
  descend = o: rest:
    let
      so = o.type.getSubOptions [ ];
      named = builtins.elem (o.type.name or "") [ "attrsOf" "lazyAttrsOf" "attrsWith" "listOf" ];
      next = if named && rest != [ ] then tail rest else rest;
    in
    if rest == [ ] then { opt = o; rest = [ ]; }
    else if next != [ ] && isAttrs so && so ? ${head next} then descendTree so.${head next} (tail next) o rest
    else { opt = o; inherit rest; };
  descendTree = x: rest: fbOpt: fbRest:
    if isOption x then descend x rest
    else if rest != [ ] && isAttrs x && x ? ${head rest} then descendTree x.${head rest} (tail rest) fbOpt fbRest
    else { opt = fbOpt; rest = fbRest; };
  walk = opts: p: consumed:
    if isOption opts then { opt = opts; rest = p; }
    else if p == [ ] then { tree = builtins.attrNames opts; }
    else if isAttrs opts && opts ? ${head p} then walk opts.${head p} (tail p) (consumed ++ [ (head p) ])
    else { missing = consumed ++ [ (head p) ]; candidates = if isAttrs opts then builtins.attrNames opts else [ ]; };
  w = walk host.options path [ ];
  value =
    let r = tryEval (let a = attrAt host.config path; in if a.ok then deepSeq (clean a.value) { ok = true; value = clean a.value; } else { ok = false; });
    in if r.success then r.value else { ok = false; error = true; };
  info = o: {
    type = o.type.description or (o.type.name or "unspecified");
    description = o.description or null;
    default = if o ? default then (let r = tryEval (deepSeq (clean o.default) (clean o.default)); in if r.success then r.value else "<error>") else null;
    hasDefault = o ? default;
    declarations = o.declarationPositions or (map (f: { file = f; }) (o.declarations or [ ]));
    readOnly = o.readOnly or false;
  };
in
if w ? opt then
  let
    d = descend w.opt w.rest;
    defs = map (d: {
      file = d.file;
      line = d.line or null;
      column = d.column or null;
      positionFile = d.positionFile or null;
      # mkOrder's priority (mkBefore/mkAfter); the override priority is highestPrio
      order = d.priority or null;
      values = map clean (defAt d.value w.rest);
    }) (w.opt.definitionsWithLocations or [ ]);
  in {
    found = true;
    option = builtins.concatStringsSep "." path;
    parent = if w.rest == [ ] then null else builtins.concatStringsSep "." w.opt.loc;
    highestPrio = w.opt.highestPrio or null;
    inherit value;
    definitions = filter (d: d.values != [ ]) defs;
  } // info d.opt // (if d.rest == [ ] then { } else { type = "part of ${(info d.opt).type}"; })
else w // { found = false; }
"#;

fn print_value(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `a."b.c".d` → `["a", "b.c", "d"]`.
fn split_option_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in p.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

pub fn run(a: OptionArgs) -> Result<ExitCode, String> {
    let path = split_option_path(&a.path);
    let (mut he, flake_host) = match &a.flake {
        Some(f) => crate::host_cmd::HostEval::open_flake(f, &a.include)?,
        None => (
            crate::host_cmd::HostEval::open(&a.file, &a.include, None)?,
            None,
        ),
    };
    let host = a
        .host
        .clone()
        .or(flake_host)
        .unwrap_or_else(crate::host_cmd::local_host_name);
    he.check_host(&host)?;
    let path_nix = format!(
        "[ {} ]",
        path.iter()
            .map(|p| crate::host_cmd::nix_str(p))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let r = he.apply_json(&host, &format!("h: ({QUERY}) h {path_nix}"))?;
    if a.json {
        println!("{}", print_value(&r));
        return Ok(if r["found"] == true {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if r["found"] != true {
        if let Some(tree) = r["tree"].as_array() {
            let names: Vec<&str> = tree.iter().filter_map(|x| x.as_str()).collect();
            println!(
                "`{}` is a set of options:\n{}",
                a.path,
                indent(&names.join("\n"))
            );
            return Ok(ExitCode::SUCCESS);
        }
        let missing = r["missing"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .unwrap_or_default();
        let cands: Vec<&str> = r["candidates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str())
            .collect();
        let last = missing.rsplit('.').next().unwrap_or_default();
        let hint = ox_eval::eval::did_you_mean(last, cands.iter().copied())
            .map(|s| format!(" {s}"))
            .unwrap_or_default();
        return Err(format!(
            "error: the option `{missing}` does not exist.{hint}\n"
        ));
    }
    let mut o = String::new();
    o.push_str(&format!("{}\n", a.path));
    o.push_str("\nValue:\n");
    if r["value"]["ok"] == true {
        o.push_str(&indent(&print_value(&r["value"]["value"])));
    } else if r["value"]["error"] == true {
        o.push_str("  (evaluating it fails; `ox build` shows why)\n");
    } else {
        o.push_str("  (not set)\n");
    }
    o.push_str(&format!("\nType: {}\n", r["type"].as_str().unwrap_or("?")));
    if r["hasDefault"] == true {
        o.push_str(&format!(
            "\nDefault:\n{}",
            indent(&print_value(&r["default"]))
        ));
    }
    if let Some(d) = r["description"].as_str() {
        o.push_str(&format!("\nDescription:\n{}", indent(d.trim_end())));
    }
    if r["readOnly"] == true {
        o.push_str("\nRead-only.\n");
    }
    o.push_str("\nDeclared in:\n");
    for d in r["declarations"].as_array().into_iter().flatten() {
        let f = d["file"].as_str().unwrap_or("?");
        match d["line"].as_u64() {
            Some(l) => o.push_str(&format!("  {f}:{l}\n")),
            None => o.push_str(&format!("  {f}\n")),
        }
    }
    let defs = r["definitions"].as_array().cloned().unwrap_or_default();
    if let Some(p) = r["parent"].as_str() {
        o.push_str(&format!("\nDefinitions (through `{p}`):\n"));
    } else {
        o.push_str("\nDefinitions:\n");
    }
    if defs.is_empty() {
        match r["parent"].as_str() {
            // definitions written as functions cannot be followed statically
            Some(p) => o.push_str(&format!(
                "  (none that set this path directly; see `ox option {p}`)\n"
            )),
            None => o.push_str("  (none: the default applies)\n"),
        }
    }
    let prio = r["highestPrio"].as_i64();
    for d in defs {
        let f = d["file"].as_str().unwrap_or("?");
        // A module that sets `_file` names another file than the one the
        // definition is written in: show both.
        let loc = match (d["line"].as_u64(), d["positionFile"].as_str()) {
            (Some(l), Some(pf)) => format!("{f} (at {pf}:{l})"),
            (Some(l), None) => format!("{f}:{l}"),
            (None, _) => f.to_string(),
        };
        let mut p: Vec<String> = prio.map(|p| format!("priority {p}")).into_iter().collect();
        if let Some(ord) = d["order"].as_i64() {
            p.push(format!("order {ord}"));
        }
        let p = if p.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.join(", "))
        };
        o.push_str(&format!("  {loc}{p}:\n"));
        for v in d["values"].as_array().into_iter().flatten() {
            o.push_str(&indent(&indent(&print_value(v))));
        }
    }
    print!("{o}");
    Ok(ExitCode::SUCCESS)
}
