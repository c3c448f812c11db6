# A miniature module system and overlay fixpoint, in plain Nix (no nixpkgs):
#  * `fix` / `extends` fixpoints like lib.fix and lib.extends,
#  * `recursiveUpdate` and a zipAttrsWith-based deep merge (lists concatenate,
#    attrsets merge recursively, scalars: last definition wins), like lib.modules,
#  * 80000 small modules that read the final `config` they contribute to,
#  * a package set built by stacking 6000 overlays over 2000 packages.
# Stresses: closures, attrset merging, laziness through fixpoints, zipAttrsWith,
# mapAttrs, `?`/`or`, dynamic attribute names.
let
  inherit (builtins) foldl' genList isAttrs isList all concatLists zipAttrsWith
    elemAt length mapAttrs attrNames attrValues filter toString;

  fix = f: let x = f x; in x;
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;

  recursiveUpdate = lhs: rhs:
    lhs // mapAttrs (n: v:
      if isAttrs v && lhs ? ${n} && isAttrs lhs.${n}
      then recursiveUpdate lhs.${n} v
      else v) rhs;

  mergeDefs = values:
    if all isAttrs values then zipAttrsWith (n: vs: mergeDefs vs) values
    else if all isList values then concatLists values
    else elemAt values (length values - 1);

  nMods = 80000;
  mkModule = i: { config }: {
    services."svc${toString (i / 10)}" = {
      enable = i / 10 * 10 + 3 != i;
      port = config.base.port + i / 10;
      deps = [ "dep${toString i}" ];
    };
    users."u${toString i}" = { uid = config.base.uid + i; groups = [ "g${toString (i / 100)}" ]; };
    environment.packages = if i / 3 * 3 == i then [ "pkg${toString i}" ] else [ ];
    base = if i == 0 then { port = 8000; uid = 1000; } else { };
  };
  modules = genList mkModule nMods;
  config = fix (self: mergeDefs (map (m: m { config = self; }) modules));

  enabledPorts = map (s: s.port) (filter (s: s.enable) (attrValues config.services));
  portSum = foldl' (a: b: a + b) 0 enabledPorts;
  uidSum = foldl' (a: u: a + u.uid + length u.groups) 0 (attrValues config.users);

  # package set with stacked overlays
  nPkgs = 2000;
  base = final: builtins.listToAttrs (genList (i: {
    name = "p${toString i}";
    value = { version = i; deps = if i == 0 then [ ] else [ final."p${toString (i / 2)}" ]; };
  }) nPkgs);
  overlay = k: final: prev: {
    "p${toString k}" = recursiveUpdate prev."p${toString k}" { version = prev."p${toString k}".version + 1; meta.k = k; };
    counter = (prev.counter or 0) + 1;
  };
  pkgs = fix (foldl' (f: k: extends (overlay (k * 7 - k * 7 / nPkgs * nPkgs)) f) base (genList (k: k) 6000));
  depth = p: if p.deps == [ ] then 0 else 1 + depth (elemAt p.deps 0);
  pkgScore = foldl' (a: n: a + pkgs.${n}.version + depth pkgs.${n}) 0
    (filter (n: n != "counter") (attrNames pkgs));
in
portSum + uidSum + length config.environment.packages + pkgScore + pkgs.counter
