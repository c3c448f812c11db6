# lib.attrsets (ox's own implementation, on top of native builtins).
{ lib }:
let
  inherit (builtins) attrNames attrValues length head tail isAttrs listToAttrs mapAttrs filter concatMap foldl' hasAttr getAttr;
in
rec {
  inherit (builtins) attrNames attrValues mapAttrs listToAttrs hasAttr getAttr removeAttrs intersectAttrs catAttrs zipAttrsWith;
  attrByPath = attrPath: default: set:
    let
      n = length attrPath;
      go = i: s: if i == n then s
        else let a = builtins.elemAt attrPath i; in
        if s ? ${a} then go (i + 1) s.${a} else default;
    in go 0 set;
  hasAttrByPath = attrPath: e:
    let
      n = length attrPath;
      go = i: s: if i == n then true
        else let a = builtins.elemAt attrPath i; in
        if isAttrs s && s ? ${a} then go (i + 1) s.${a} else false;
    in go 0 e;
  longestValidPathPrefix = attrPath: v:
    let
      n = length attrPath;
      go = i: s: if i < n && isAttrs s && s ? ${builtins.elemAt attrPath i} then go (i + 1) s.${builtins.elemAt attrPath i} else i;
    in lib.lists.take (go 0 v) attrPath;
  setAttrByPath = attrPath: value:
    let
      len = length attrPath;
      atDepth = n: if n == len then value else { ${builtins.elemAt attrPath n} = atDepth (n + 1); };
    in atDepth 0;
  getAttrFromPath = attrPath: set:
    let
      n = length attrPath;
      go = i: s: if i == n then s
        else let a = builtins.elemAt attrPath i; in
        if isAttrs s && s ? ${a} then go (i + 1) s.${a}
        else throw "cannot find attribute `${lib.concatStringsSep "." attrPath}'";
    in go 0 set;
  concatMapAttrs = f: v: foldl' (a: b: a // b) { } (attrValues (mapAttrs f v));
  updateManyAttrsByPath = updates: value:
    foldl' (acc: u:
      if u.path == [ ] then u.update acc
      else recursiveUpdate acc (setAttrByPath u.path (u.update (attrByPath u.path null acc)))) value updates;
  attrVals = nameList: set: map (x: set.${x}) nameList;
  getAttrs = names: attrs: lib.genAttrs names (name: attrs.${name});
  filterAttrs = pred: set:
    removeAttrs set (filter (name: !pred name set.${name}) (attrNames set));
  filterAttrsRecursive = pred: set:
    listToAttrs (concatMap (name:
      let v = set.${name}; in
      if pred name v then [ (nameValuePair name (if isAttrs v then filterAttrsRecursive pred v else v)) ] else [ ]
    ) (attrNames set));
  foldlAttrs = f: init: set: foldl' (acc: name: f acc name set.${name}) init (attrNames set);
  foldAttrs = op: nul: list_of_attrs:
    foldl' (a: n: foldl' (a: name: a // { ${name} = op n.${name} (a.${name} or nul); }) a (attrNames n)) { } (lib.lists.reverseList list_of_attrs);
  collect = pred: attrs:
    if pred attrs then [ attrs ]
    else if isAttrs attrs then concatMap (collect pred) (attrValues attrs)
    else [ ];
  cartesianProduct = attrsOfLists:
    foldl' (listOfAttrs: attrName:
      concatMap (attrs: map (listValue: attrs // { ${attrName} = listValue; }) attrsOfLists.${attrName}) listOfAttrs
    ) [ { } ] (attrNames attrsOfLists);
  mapCartesianProduct = f: attrsOfLists: map f (cartesianProduct attrsOfLists);
  nameValuePair = name: value: { inherit name value; };
  mapAttrs' = f: set: listToAttrs (map (attr: f attr set.${attr}) (attrNames set));
  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
  attrsToList = mapAttrsToList nameValuePair;
  mapAttrsRecursive = f: set: mapAttrsRecursiveCond (as: true) f set;
  mapAttrsRecursiveCond = cond: f: set:
    let
      recurse = path: mapAttrs (name: value:
        if isAttrs value && cond value then recurse (path ++ [ name ]) value else f (path ++ [ name ]) value);
    in recurse [ ] set;
  mapAttrsToListRecursive = mapAttrsToListRecursiveCond (_: _: true);
  mapAttrsToListRecursiveCond = pred: f: set:
    let
      mapRecursive = path: value:
        if isAttrs value && pred path value then lib.lists.concatLists (mapAttrsToList (name: mapRecursive (path ++ [ name ])) value)
        else [ (f path value) ];
    in mapRecursive [ ] set;
  genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
  genAttrs' = xs: f: listToAttrs (map f xs);
  isDerivation = value: value.type or null == "derivation";
  toDerivation = path:
    let path' = builtins.storePath path; in
    { type = "derivation"; name = lib.sanitizeDerivationName (builtins.substring 33 (-1) (baseNameOf path')); outPath = path'; outputs = [ "out" ]; out = path'; outputName = "out"; };
  optionalAttrs = cond: as: if cond then as else { };
  zipAttrsWithNames = names: f: sets:
    listToAttrs (map (name: { inherit name; value = f name (catAttrs name sets); }) names);
  zipAttrs = zipAttrsWith (name: values: values);
  mergeAttrsList = list: foldl' (a: b: a // b) { } list;
  recursiveUpdateUntil = pred: lhs: rhs:
    let
      f = attrPath: zipAttrsWith (n: values:
        let here = attrPath ++ [ n ]; in
        if length values == 1 || pred here (builtins.elemAt values 1) (head values) then head values
        else f here values);
    in f [ ] [ rhs lhs ];
  recursiveUpdate = lhs: rhs:
    recursiveUpdateUntil (path: lhs: rhs: !(isAttrs lhs && isAttrs rhs)) lhs rhs;
  matchAttrs = pattern: attrs:
    assert isAttrs pattern;
    lib.lists.all (attr:
      attrs ? ${attr} && (
        let lhs = pattern.${attr}; rhs = attrs.${attr}; in
        if isAttrs lhs then isAttrs rhs && matchAttrs lhs rhs else lhs == rhs)) (attrNames pattern);
  overrideExisting = old: new: mapAttrs (name: value: new.${name} or value) old;
  showAttrPath = path: if path == [ ] then "<root attribute path>" else lib.concatMapStringsSep "." lib.strings.escapeNixIdentifier path;
  getOutput = output: pkg: if !pkg ? outputSpecified || !pkg.outputSpecified then pkg.${output} or pkg.out or pkg else pkg;
  getFirstOutput = candidates: pkg:
    let outputs = builtins.filter (name: hasAttr name pkg) candidates; output = builtins.head outputs; in
    if pkg.outputSpecified or false || outputs == [ ] then pkg else pkg.${output};
  getBin = getOutput "bin";
  getLib = getOutput "lib";
  getDev = getOutput "dev";
  getMan = getOutput "man";
  chooseDevOutputs = map getDev;
  recurseIntoAttrs = attrs: attrs // { recurseForDerivations = true; };
  dontRecurseIntoAttrs = attrs: attrs // { recurseForDerivations = false; };
  unionOfDisjoint = x: y:
    let intersection = builtins.intersectAttrs x y; collisions = lib.concatStringsSep " " (attrNames intersection); in
    if intersection == { } then x // y else throw "unionOfDisjoint: collision on ${collisions}";
  isAttrs = builtins.isAttrs;
}
