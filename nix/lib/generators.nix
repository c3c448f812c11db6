# lib.generators (ox's own implementation; toPretty is native).
{ lib, native }:
rec {
  mkValueStringDefault = { }: v:
    let err = t: v: throw "generators.mkValueStringDefault: ${t} not supported: ${toPretty { } v}"; in
    if builtins.isInt v then toString v
    else if lib.isDerivation v || builtins.isPath v then toString v
    else if builtins.isString v then v
    else if true == v then "true"
    else if false == v then "false"
    else if null == v then "null"
    else if builtins.isFloat v then lib.strings.floatToString v
    else if lib.isStringLike v then toString v
    else if builtins.isList v then err "lists" v
    else if builtins.isAttrs v then err "attrsets" v
    else if builtins.isFunction v then err "functions" v
    else err "this value is" (toString v);
  mkKeyValueDefault = { mkValueString ? mkValueStringDefault { } }: sep: k: v:
    "${lib.strings.escape [ sep ] k}${sep}${mkValueString v}";
  toKeyValue = { mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false, indent ? "" }: attrs:
    let
      mkLine = k: v: indent + mkKeyValue k v + "\n";
      mkLines = if listsAsDuplicateKeys
        then k: v: map (mkLine k) (if builtins.isList v then v else [ v ])
        else k: v: [ (mkLine k v) ];
    in lib.concatStrings (lib.concatLists (lib.mapAttrsToList mkLines attrs));
  toINI = { mkSectionName ? (name: lib.strings.escape [ "[" "]" ] name), mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false }: attrsOfAttrs:
    let
      mkSection = sectName: sectValues:
        "[${mkSectionName sectName}]\n" + toKeyValue { inherit mkKeyValue listsAsDuplicateKeys; } sectValues;
    in lib.concatStringsSep "\n" (lib.mapAttrsToList mkSection attrsOfAttrs);
  toINIWithGlobalSection = { mkSectionName ? (name: lib.strings.escape [ "[" "]" ] name), mkKeyValue ? mkKeyValueDefault { } "=", listsAsDuplicateKeys ? false }:
    { globalSection, sections ? { } }:
    (if globalSection == { } then "" else (toKeyValue { inherit mkKeyValue listsAsDuplicateKeys; } globalSection) + "\n")
    + (toINI { inherit mkSectionName mkKeyValue listsAsDuplicateKeys; } sections);
  toGitINI = attrs:
    let
      mkSectionName = name:
        let
          containsQuote = lib.strings.hasInfix ''"'' name;
          sections = lib.splitString "." name;
          section = builtins.head sections;
          subsections = builtins.tail sections;
          subsection = lib.concatStringsSep "." subsections;
        in if containsQuote || subsections == [ ] then name else ''${section} "${subsection}"'';
      mkValueString = v:
        let escapedV = ''"${builtins.replaceStrings [ "\n" "\t" ''"'' "\\" ] [ "\\n" "\\t" ''\"'' "\\\\" ] v}"''; in
        mkValueStringDefault { } (if builtins.isString v then escapedV else v);
      mkKeyValue = k: v: "\t" + mkKeyValueDefault { inherit mkValueString; } " = " k v;
      toINI_ = toINI { inherit mkKeyValue mkSectionName; };
      flattenAttrs = let
          recurse = path: value:
            if builtins.isAttrs value && !lib.isDerivation value then
              lib.mapAttrsToList (name: value: recurse ([ name ] ++ path) value) value
            else if builtins.length path > 1 then {
              ${lib.concatStringsSep "." (lib.reverseList (builtins.tail path))}.${builtins.head path} = value;
            } else {
              ${builtins.head path} = value;
            };
        in attrs: lib.foldl lib.recursiveUpdate { } (lib.flatten (recurse [ ] attrs));
    in toINI_ (flattenAttrs attrs);
  mkDconfKeyValue = mkKeyValueDefault { mkValueString = v: toString v; } "=";
  toDconfINI = toINI { mkKeyValue = mkDconfKeyValue; };
  toJSON = { }: builtins.toJSON;
  toYAML = { }: builtins.toJSON;
  withRecursion = { depthLimit, throwOnDepthLimit ? true }: v: v;
  toPretty = { allowPrettyValues ? false, multiline ? true, indent ? "" }@args: v: native.toPretty args v;
}
