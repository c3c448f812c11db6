# lib.trivial: small combinators (ox's own implementation).
{ lib }:
rec {
  id = x: x;
  const = x: _: x;
  pipe = builtins.foldl' (x: f: f x);
  concat = x: y: x ++ y;
  or = x: y: x || y;
  and = x: y: x && y;
  xor = x: y: (!x) != (!y);
  bitAnd = builtins.bitAnd;
  bitOr = builtins.bitOr;
  bitXor = builtins.bitXor;
  bitNot = builtins.sub (-1);
  boolToString = b: if b then "true" else "false";
  boolToYesNo = b: if b then "yes" else "no";
  mergeAttrs = x: y: x // y;
  flip = f: a: b: f b a;
  defaultTo = default: x: if x == null then default else x;
  mapNullable = f: a: if a == null then a else f a;
  max = x: y: if x > y then x else y;
  min = x: y: if x < y then x else y;
  mod = base: int: base - (int * (builtins.div base int));
  compare = a: b: if a < b then -1 else if a > b then 1 else 0;
  splitByAndCompare = p: yes: no: a: b:
    if p a then (if p b then yes a b else -1) else if p b then 1 else no a b;
  importJSON = path: builtins.fromJSON (builtins.readFile path);
  importTOML = path: builtins.fromTOML (builtins.readFile path);
  warn = msg: builtins.trace "[1;35mwarning: ${msg}[0m";
  warnIf = cond: msg: if cond then warn msg else x: x;
  warnIfNot = cond: msg: if cond then x: x else warn msg;
  throwIf = cond: msg: if cond then throw msg else x: x;
  throwIfNot = cond: msg: if cond then x: x else throw msg;
  info = msg: builtins.trace "INFO: ${msg}";
  showWarnings = warnings: res: builtins.foldl' (r: w: warn w r) res warnings;
  setFunctionArgs = f: args: { __functor = self: f; __functionArgs = args; };
  functionArgs = f:
    if f ? __functor then f.__functionArgs or (functionArgs (f.__functor f))
    else builtins.functionArgs f;
  isFunction = f: builtins.isFunction f || (f ? __functor && isFunction (f.__functor f));
  toFunction = v: if isFunction v then v else _: v;
  fix = f: let x = f x; in x;
  fix' = f: let x = f x // { __unfix__ = f; }; in x;
  extends = overlay: f: final: let prev = f final; in prev // overlay final prev;
  composeExtensions = f: g: final: prev:
    let fApplied = f final prev; prev' = prev // fApplied; in fApplied // g final prev';
  composeManyExtensions = builtins.foldl' composeExtensions (_: _: { });
  makeExtensible = makeExtensibleWithCustomName "extend";
  makeExtensibleWithCustomName = extenderName: rattrs:
    fix' (self: (rattrs self) // {
      ${extenderName} = f: makeExtensibleWithCustomName extenderName (extends f rattrs);
    });
  toHexString = i:
    let
      digits = "0123456789ABCDEF";
      go = n: if n < 16 then builtins.substring n 1 digits else go (builtins.div n 16) + builtins.substring (mod n 16) 1 digits;
    in go i;
  toBaseDigits = base: i:
    let go = n: if n < base then [ n ] else go (builtins.div n base) ++ [ (mod n base) ]; in go i;
  inNixShell = false;
  inPureEvalMode = !(builtins ? currentSystem);
  version = "25.05-ox";
  release = "25.05";
  oldestSupportedRelease = 2405;
  isInOldestRelease = r: r <= oldestSupportedRelease;
  oldestSupportedReleaseIsAtLeast = r: r <= oldestSupportedRelease;
  codeName = "ox";
  versionSuffix = "";
  seq = builtins.seq;
  deepSeq = builtins.deepSeq;
  typeOf = builtins.typeOf;
  isBool = builtins.isBool;
  isInt = builtins.isInt;
  isFloat = builtins.isFloat;
  isString = builtins.isString;
  isList = builtins.isList;
  isAttrs = builtins.isAttrs;
  isPath = builtins.isPath;
  lessThan = builtins.lessThan;
  add = builtins.add;
  sub = builtins.sub;
  mul = builtins.mul;
  div = builtins.div;
  pathExists = builtins.pathExists;
  readFile = builtins.readFile;
  addErrorContext = builtins.addErrorContext;
  unsafeGetAttrPos = builtins.unsafeGetAttrPos;
  genericClosure = builtins.genericClosure;
  tryEval = builtins.tryEval;
}
