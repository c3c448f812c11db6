//! Calling a locked flake: every node of the lock becomes a value whose
//! source is fetched only when something reads it; `outputs` receives
//! its inputs and `self` (outputs merged with `outPath`, `sourceInfo`,
//! `inputs`, `outputs`, `narHash`, `lastModified`, …), as in Nix.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use ox_eval::value::{sym, Attrs, Thunk};
use ox_eval::{Eval, Value};

use crate::fetch::{Fetcher, OX_VERSION};
use crate::flakeref::FlakeRef;
use crate::lockfile::{Edge, LockFile};
use crate::Error;

/// The glue, in Nix: resolves `follows` and ties `self`.
const CALL_FLAKE: &str = r#"
{ lockText, sources, oxInput }:
let
  lock = builtins.fromJSON lockText;
  resolve = spec: if builtins.isList spec then follow lock.root spec else spec;
  follow = key: path:
    if path == [ ] then key
    else follow (resolve lock.nodes.${key}.inputs.${builtins.head path}) (builtins.tail path);
  nodes = builtins.mapAttrs (key: node:
    let
      sourceInfo = sources.${key};
      locked = node.locked or { };
      inputs = builtins.mapAttrs (_: spec: nodes.${resolve spec}) (node.inputs or { });
      dir = locked.dir or "";
      flake = import (sourceInfo.outPath + (if dir == "" then "" else "/" + dir) + "/flake.nix");
      outputs = flake.outputs (inputs // { self = result; });
      result = outputs // sourceInfo // {
        inherit inputs outputs sourceInfo;
        _type = "flake";
      };
    in
    if (locked.type or "") == "ox" then oxInput sourceInfo rootDir
    else if node.flake or true then result
    else sourceInfo) lock.nodes;
  # The root flake's directory: where `lib.oxSystem` looks for ox.lock.
  rootDir = let dir = lock.nodes.${lock.root}.locked.dir or ""; in
    sources.${lock.root}.outPath + (if dir == "" then "" else "/" + dir);
in
nodes.${lock.root}
"#;

/// The built-in `ox` input, over ox's `nix/` tree in the store.
const OX_INPUT: &str = r#"
version: sourceInfo: rootDir:
let
  src = sourceInfo.outPath;
  has = p: builtins.pathExists (src + p);
  missing = what: throw "the ox input: ${what} is not part of this ox build yet (looked in ${src})";
  # Pass a function the arguments it declares (all of them if it takes
  # a plain argument).
  callWith = f: args:
    let fa = builtins.functionArgs f; in
    if fa == { } then f args else f (builtins.intersectAttrs fa args);
  baseLib = if has "/lib" then import (src + "/lib") else missing "nix/lib";
  # The fleet's Debian package lock (`ox pkgs add`), if it has one: every
  # host's `pkgs` takes its Debian packages from it (nixpkgs.debianLock).
  rootLock = rootDir + "/ox.lock";
  defaultLock = if builtins.pathExists rootLock then rootLock else null;
  oxSystem = { system ? "x86_64-linux", modules ? [ ], specialArgs ? { }, debianLock ? defaultLock, ... }@args:
    let
      lockModule = if debianLock == null then [ ] else [ { nixpkgs.debianLock = baseLib.mkDefault debianLock; } ];
    in
    if has "/modules/eval-host.nix" then
      callWith (import (src + "/modules/eval-host.nix"))
        (args // { inherit system specialArgs; modules = modules ++ lockModule; })
    else
      throw "ox.lib.oxSystem: not implemented yet: this ox has no host entry point (nix/modules/eval-host.nix)";
  pkgsFor = system:
    if has "/pkgs" then
      let f = import (src + "/pkgs"); in
      if builtins.isFunction f then callWith f { inherit system; } else f
    else missing "nix/pkgs";
  systems = [ "x86_64-linux" "aarch64-linux" ];
  legacyPackages = builtins.listToAttrs (map (system: { name = system; value = pkgsFor system; }) systems);
  moduleDir = src + "/modules";
  moduleEntries = if has "/modules" then builtins.readDir moduleDir else { };
  moduleName = n: let m = builtins.match "(.*)\\.nix" n; in if m == null then n else builtins.head m;
  modules = builtins.listToAttrs (map
    (n: { name = moduleName n; value = moduleDir + "/" + n; })
    (builtins.filter
      (n: moduleEntries.${n} == "directory" || builtins.match ".*\\.nix" n != null)
      (builtins.attrNames moduleEntries)));
in
sourceInfo // {
  inherit version legacyPackages;
  lib = baseLib // { inherit oxSystem; };
  pkgs = legacyPackages.x86_64-linux;
  nixosModules = modules;
  oxModules = modules;
  _type = "flake";
}
"#;

/// What the root flake's source is.
#[derive(Clone, Debug)]
pub struct RootSource {
    pub src: PathBuf,
    pub nar_hash: String,
    pub last_modified: Option<u64>,
    pub rev: Option<String>,
    pub rev_count: Option<u64>,
}

fn eval_err(e: Error) -> Box<ox_eval::EvalError> {
    ox_eval::EvalError::new(ox_eval::error::ErrorKind::Other, e.to_string(), None)
}

/// `sourceInfo` of a fetched node.
fn source_info(
    src: &str,
    nar_hash: Option<&str>,
    last_modified: Option<u64>,
    rev: Option<&str>,
    rev_count: Option<u64>,
) -> Value {
    let mut ctx = std::collections::BTreeSet::new();
    ctx.insert(src.to_string());
    let mut e: Vec<(ox_eval::value::Sym, Value)> = vec![(
        "outPath",
        Value::str_ctx(src.to_string(), Some(Rc::new(ctx))),
    )];
    if let Some(h) = nar_hash {
        e.push(("narHash", Value::str(h)));
    }
    if let Some(t) = last_modified {
        e.push(("lastModified", Value::Int(t as i64)));
        e.push(("lastModifiedDate", Value::str(date_string(t))));
    }
    if let Some(r) = rev {
        e.push(("rev", Value::str(r)));
        e.push(("shortRev", Value::str(&r[..r.len().min(7)])));
    }
    if let Some(c) = rev_count {
        e.push(("revCount", Value::Int(c as i64)));
    }
    Value::attrs(Attrs::from_unsorted(e))
}

/// Nix's `lastModifiedDate`: `%Y%m%d%H%M%S` in UTC.
pub fn date_string(t: u64) -> String {
    let days = (t / 86400) as i64;
    let secs = t % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's method).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        y,
        m,
        d,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// The value of the root flake (`outputs` merged with its source info),
/// with every input fetched lazily.
pub fn call_flake(
    ev: &mut Eval,
    fetcher: Rc<RefCell<Fetcher>>,
    lock: &LockFile,
    root: &RootSource,
) -> Result<Value, Error> {
    // Which node declared each node (to resolve relative paths).
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    for (key, n) in &lock.nodes {
        for e in n.inputs.values() {
            if let Edge::Node(k) = e {
                parent.entry(k.clone()).or_insert_with(|| key.clone());
            }
        }
    }
    // Fetched store directories of nodes, shared by the lazy thunks.
    let dirs: Rc<RefCell<BTreeMap<String, PathBuf>>> = Rc::new(RefCell::new(BTreeMap::new()));
    dirs.borrow_mut()
        .insert(lock.root.clone(), root.src.clone());
    let lock_rc = Rc::new(lock.clone());
    let parent = Rc::new(parent);
    let mut sources = Vec::new();
    for key in lock.nodes.keys() {
        let v = if key == &lock.root {
            source_info(
                &root.src.to_string_lossy(),
                Some(&root.nar_hash),
                root.last_modified,
                root.rev.as_deref(),
                root.rev_count,
            )
        } else {
            let (key2, fetcher, dirs, lock, parent) = (
                key.clone(),
                fetcher.clone(),
                dirs.clone(),
                lock_rc.clone(),
                parent.clone(),
            );
            Thunk::native(move |_ev| {
                let src = fetch_node(&key2, &fetcher, &dirs, &lock, &parent).map_err(eval_err)?;
                let locked = lock.nodes[&key2]
                    .locked
                    .clone()
                    .unwrap_or_else(|| FlakeRef::new(""));
                Ok(source_info(
                    &src.to_string_lossy(),
                    locked.str("narHash"),
                    locked.int("lastModified"),
                    locked.str("rev"),
                    locked.int("revCount"),
                ))
            })
        };
        sources.push((sym(key), v));
    }
    let glue = ev
        .eval_string(CALL_FLAKE, "«ox:call-flake»", "/")
        .map_err(|e| Error::Internal(format!("call-flake: {}", e.msg)))?;
    let ox_input = ev
        .eval_string(OX_INPUT, "«ox:ox-input»", "/")
        .map_err(|e| Error::Internal(format!("ox input: {}", e.msg)))?;
    let ox_input = ev
        .call(ox_input, Value::str(OX_VERSION), None)
        .map_err(|e| Error::Internal(format!("ox input: {}", e.msg)))?;
    let args = Value::attrs(Attrs::from_unsorted(vec![
        ("lockText", Value::str(lock.to_json_string())),
        ("sources", Value::attrs(Attrs::from_unsorted(sources))),
        ("oxInput", ox_input),
    ]));
    let v = ev.call(glue, args, None).map_err(|e| Error::Eval {
        context: "while calling the flake".into(),
        message: ox_eval::render(&e, false),
    })?;
    Ok(v)
}

fn fetch_node(
    key: &str,
    fetcher: &Rc<RefCell<Fetcher>>,
    dirs: &Rc<RefCell<BTreeMap<String, PathBuf>>>,
    lock: &LockFile,
    parent: &BTreeMap<String, String>,
) -> Result<PathBuf, Error> {
    if let Some(d) = dirs.borrow().get(key) {
        return Ok(d.clone());
    }
    let node = &lock.nodes[key];
    let locked = node
        .locked
        .clone()
        .ok_or_else(|| Error::Internal(format!("node '{}' is not locked", key)))?;
    let parent_dir = if locked.is_relative_path() {
        match parent.get(key) {
            Some(p) => {
                let pd = fetch_node(p, fetcher, dirs, lock, parent)?;
                let pdir = match lock.nodes[p].locked.as_ref().and_then(|l| l.dir()) {
                    Some(d) => pd.join(d),
                    None => pd,
                };
                Some(pdir)
            }
            None => None,
        }
    } else {
        None
    };
    let f = fetcher.borrow_mut().fetch(&locked, parent_dir.as_deref())?;
    dirs.borrow_mut().insert(key.to_string(), f.src.clone());
    Ok(f.src)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::date_string(0), "19700101000000");
        assert_eq!(super::date_string(1706843045), "20240202030405");
        assert_eq!(super::date_string(951782400), "20000229000000");
    }
}
