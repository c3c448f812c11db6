# lib.strings (ox's own implementation).
{ lib }:
let
  inherit (builtins) stringLength substring concatStringsSep filter isString length head elemAt;
in
rec {
  inherit (builtins) stringLength substring concatStringsSep replaceStrings match split toString;
  concatStrings = builtins.concatStringsSep "";
  concatMapStrings = f: list: concatStrings (map f list);
  concatImapStrings = f: list: concatStrings (lib.lists.imap1 f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  concatImapStringsSep = sep: f: list: concatStringsSep sep (lib.lists.imap1 f list);
  concatMapAttrsStringSep = sep: f: attrs: concatStringsSep sep (lib.attrsets.mapAttrsToList f attrs);
  concatLines = list: concatMapStrings (s: s + "\n") list;
  intersperse = separator: list:
    if list == [ ] || length list == 1 then list
    else builtins.tail (lib.lists.concatMap (x: [ separator x ]) list);
  join = concatStringsSep;
  makeSearchPath = subDir: paths: concatStringsSep ":" (map (path: path + "/" + subDir) (filter (x: x != null) paths));
  makeSearchPathOutput = output: subDir: pkgs: makeSearchPath subDir (map (p: p.${output} or p.out or p) pkgs);
  makeLibraryPath = makeSearchPathOutput "lib" "lib";
  makeIncludePath = makeSearchPathOutput "dev" "include";
  makeBinPath = makeSearchPathOutput "bin" "bin";
  normalizePath = s: builtins.foldl' (x: y: if y == "/" && hasSuffix "/" x then x else x + y) "" (stringToCharacters s);
  optionalString = cond: string: if cond then string else "";
  hasPrefix = pref: str: substring 0 (stringLength pref) str == pref;
  hasSuffix = suffix: content:
    let lenContent = stringLength content; lenSuffix = stringLength suffix; in
    lenContent >= lenSuffix && substring (lenContent - lenSuffix) lenContent content == suffix;
  hasInfix = infix: content: builtins.match ".*${escapeRegex infix}.*" "${content}" != null;
  stringToCharacters = s: builtins.genList (p: substring p 1 s) (stringLength s);
  stringAsChars = f: s: concatStrings (map f (stringToCharacters s));
  charToInt = c: builtins.getAttr c asciiTable;
  asciiTable = builtins.listToAttrs (builtins.genList (i: { name = builtins.substring i 1 " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"; value = i + 32; }) 95);
  escape = list: replaceStrings list (map (c: "\\${c}") list);
  escapeC = list: replaceStrings list (map (c: "\\x${lib.trivial.toHexString (charToInt c)}") list);
  escapeURL = let
      unreserved = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" "0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "-" "_" "." "~" ];
      toEscape = builtins.removeAttrs asciiTable unreserved;
    in replaceStrings (builtins.attrNames toEscape) (lib.attrsets.mapAttrsToList (_: c: "%${fixedWidthString 2 "0" (lib.trivial.toHexString c)}") toEscape);
  escapeShellArg = arg:
    let string = toString arg; in
    if match "[[:alnum:],._+:@%/-]+" string == null
    then "'${replaceStrings [ "'" ] [ "'\\''" ] string}'"
    else string;
  escapeShellArgs = concatMapStringsSep " " escapeShellArg;
  isValidPosixName = name: match "[a-zA-Z_][a-zA-Z0-9_]*" name != null;
  toShellVar = name: value:
    lib.trivial.throwIfNot (isValidPosixName name) "toShellVar: ${name} is not a valid shell variable name" (
      if builtins.isAttrs value && !isStringLike value then
        "declare -A ${name}=(${concatStringsSep " " (lib.attrsets.mapAttrsToList (n: v: "[${escapeShellArg n}]=${escapeShellArg v}") value)})"
      else if builtins.isList value then
        "declare -a ${name}=(${escapeShellArgs value})"
      else "${name}=${escapeShellArg value}");
  toShellVars = vars: concatStringsSep "\n" (lib.attrsets.mapAttrsToList toShellVar vars);
  escapeNixString = s: escape [ "$" ] (builtins.toJSON s);
  escapeRegex = escape (stringToCharacters "\\[{()^$?*+|.");
  escapeNixIdentifier = s: if match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null then s else escapeNixString s;
  escapeXML = builtins.replaceStrings [ "\"" "'" "<" ">" "&" ] [ "&quot;" "&apos;" "&lt;" "&gt;" "&amp;" ];
  toUpper = replaceStrings lowerChars upperChars;
  toLower = replaceStrings upperChars lowerChars;
  lowerChars = stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  toSentenceCase = str: toUpper (substring 0 1 str) + toLower (substring 1 (stringLength str) str);
  addContextFrom = src: target: substring 0 0 src + target;
  splitString = sep: s:
    let splits = builtins.filter builtins.isString (builtins.split (escapeRegex (toString sep)) (toString s)); in
    map (addContextFrom s) splits;
  removePrefix = prefix: str:
    let preLen = stringLength prefix; in
    if substring 0 preLen str == prefix then substring preLen (stringLength str - preLen) str else str;
  removeSuffix = suffix: str:
    let sufLen = stringLength suffix; sLen = stringLength str; in
    if sufLen <= sLen && suffix == substring (sLen - sufLen) sufLen str then substring 0 (sLen - sufLen) str else str;
  versionOlder = v1: v2: builtins.compareVersions v2 v1 == 1;
  versionAtLeast = v1: v2: !versionOlder v1 v2;
  getName = x: (builtins.parseDrvName (if builtins.isString x then x else x.name)).name;
  getVersion = x: (builtins.parseDrvName (if builtins.isString x then x else x.name)).version;
  nameFromURL = url: sep:
    let components = splitString "/" url; filename = lib.lists.last components; name = head (splitString sep filename); in
    assert name != filename; name;
  enableFeature = flag: feature: "--${if flag then "enable" else "disable"}-${feature}";
  enableFeatureAs = flag: feature: value: enableFeature flag feature + optionalString flag "=${value}";
  withFeature = flag: feature: "--${if flag then "with" else "without"}-${feature}";
  withFeatureAs = flag: feature: value: withFeature flag feature + optionalString flag "=${value}";
  fixedWidthString = width: filler: str:
    let strw = stringLength str; reqWidth = width - (stringLength filler); in
    assert strw <= width || throw "fixedWidthString: requested string length (${toString width}) must not be shorter than actual length (${toString strw})";
    if strw == width then str else filler + fixedWidthString reqWidth filler str;
  fixedWidthNumber = width: n: fixedWidthString width "0" (toString n);
  floatToString = float: let result = toString float; in result;
  isStringLike = x: isString x || builtins.isPath x || x ? outPath || x ? __toString;
  isStorePath = x:
    if isStringLike x then
      let str = toString x; in
      substring 0 1 str == "/" && dirOf str == builtins.storeDir
    else false;
  isConvertibleWithToString = x: isStringLike x || builtins.elem (builtins.typeOf x) [ "null" "int" "float" "bool" ] || (builtins.isList x && lib.lists.all isConvertibleWithToString x);
  toInt = str:
    let m = match "[[:space:]]*(-?[0-9]+)[[:space:]]*" str; in
    if m == null then throw "Could not convert ${str} to int."
    else
      let s = head m; stripped = match "(-?)0*([0-9]+)" s; in
      if match "-?0[0-9]+" s != null then throw "toInt: Ambiguity in interpretation of ${str} between octal and zero padded integer."
      else builtins.fromJSON (elemAt stripped 0 + elemAt stripped 1);
  toIntBase10 = str:
    let m = match "[[:space:]]*0*(-?[0-9]+)[[:space:]]*" str; in
    if m == null then throw "Could not convert ${str} to int." else builtins.fromJSON (head m);
  readPathsFromFile = rootPath: file:
    let lines = lib.lists.filter (l: l != "" && substring 0 1 l != "#") (splitString "\n" (builtins.readFile file)); in
    map (x: rootPath + "/${x}") lines;
  fileContents = file: removeSuffix "\n" (builtins.readFile file);
  trim = trimWith { start = true; end = true; };
  trimWith = { start ? false, end ? false }: s:
    let
      regex = if start && end then "[[:space:]]*(.*[^[:space:]])[[:space:]]*"
        else if start then "[[:space:]]*(.*)"
        else if end then "(.*[^[:space:]])[[:space:]]*"
        else "(.*)";
      res = match regex s;
    in if res == null then (if start || end then "" else s) else head res;
  sanitizeDerivationName = string:
    let
      okChars = builtins.filter isString (builtins.split "[^[:alnum:]+._?=-]+" string);
      joined = concatStringsSep "-" (builtins.filter (s: s != "") okChars);
      noDot = if substring 0 1 joined == "." then substring 1 (stringLength joined) joined else joined;
    in if noDot == "" then "unknown" else substring 0 207 noDot;
  levenshtein = a: b:
    let
      la = stringLength a; lb = stringLength b;
      row0 = builtins.genList (j: j) (lb + 1);
      step = prev: i: builtins.foldl' (acc: j:
        acc ++ [ (lib.trivial.min (lib.trivial.min (elemAt acc (j - 1) + 1) (elemAt prev j + 1))
          (elemAt prev (j - 1) + (if substring (i - 1) 1 a == substring (j - 1) 1 b then 0 else 1))) ]) [ i ] (lib.lists.range 1 lb);
    in elemAt (builtins.foldl' step row0 (lib.lists.range 1 la)) lb;
  commonPrefixLength = a: b:
    let m = lib.trivial.min (stringLength a) (stringLength b);
        go = i: if i < m && substring i 1 a == substring i 1 b then go (i + 1) else i; in go 0;
  commonSuffixLength = a: b:
    let m = lib.trivial.min (stringLength a) (stringLength b);
        go = i: if i < m && substring (stringLength a - i - 1) 1 a == substring (stringLength b - i - 1) 1 b then go (i + 1) else i; in go 0;
  cmakeBool = name: value: "-D${name}:BOOL=${if value then "TRUE" else "FALSE"}";
  cmakeFeature = name: value: "-D${name}:STRING=${value}";
  mesonOption = name: value: "-D${name}=${value}";
  mesonBool = name: value: mesonOption name (lib.trivial.boolToString value);
  mesonEnable = name: value: mesonOption name (if value then "enabled" else "disabled");
  replicate = n: s: concatStrings (lib.lists.replicate n s);
}
