# pkgs.formats.<format> { … }: `generate name value` writes `value` as a
# file in that format; `type` is the option type of such values (for
# `settings` options), from lib.types.
#
# Output is deterministic (attributes sorted by name) but not
# byte-identical to nixpkgs, which pretty-prints through external tools.
{ pkgs }:
let
  types = pkgs.lib.types;
  # The value type: atoms, and sets and lists of values. nixpkgs makes
  # it recursive (`attrsOf valueType`); ox's native lib.types computes
  # descriptions eagerly, which makes a recursive type loop, so nested
  # values are `anything` until the types are lazy there.
  valueType =
    description: atoms:
    types.oneOf (
      atoms
      ++ [
        (types.attrsOf types.anything)
        (types.listOf types.anything)
      ]
    )
    // {
      inherit description;
    };
  scalars = [
    types.bool
    types.int
    types.float
    types.str
    types.path
  ];
  iniAtom =
    listsAsDuplicateKeys:
    let
      atom = types.oneOf scalars // {
        description = "INI atom (bool, int, float, string or path)";
      };
    in
    if listsAsDuplicateKeys then types.either atom (types.listOf atom) else atom;
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    isAttrs
    isBool
    isFloat
    isInt
    isList
    isString
    isPath
    map
    match
    toJSON
    typeOf
    ;

  isDrvOrPath = v: isPath v || (isAttrs v && (v.type or null) == "derivation");

  # TOML: JSON string escapes are valid TOML basic-string escapes.
  tomlKey = k: if match "[A-Za-z0-9_-]+" k != null then k else toJSON k;
  tomlValue =
    v:
    if isString v || isDrvOrPath v then
      toJSON (toString v)
    else if isBool v || isInt v || isFloat v then
      toJSON v
    else if isList v then
      "[ " + concatStringsSep ", " (map tomlValue v) + " ]"
    else if isAttrs v then
      "{ " + concatStringsSep ", " (map (k: "${tomlKey k} = ${tomlValue v.${k}}") (attrNames v)) + " }"
    else
      throw "pkgs.formats.toml: cannot represent a value of type ${typeOf v} (null is not TOML)";
  isTable = v: isAttrs v && !isDrvOrPath v;
  isTableArray = v: isList v && v != [ ] && builtins.all isTable v;
  tomlSection =
    prefix: set:
    let
      names = attrNames set;
      plain = filter (k: !(isTable set.${k}) && !(isTableArray set.${k})) names;
      tables = filter (k: isTable set.${k}) names;
      arrays = filter (k: isTableArray set.${k}) names;
      path = k: (if prefix == "" then "" else prefix + ".") + tomlKey k;
    in
    concatStringsSep "" (map (k: "${tomlKey k} = ${tomlValue set.${k}}\n") plain)
    + concatStringsSep "" (map (k: "\n[${path k}]\n" + tomlSection (path k) set.${k}) tables)
    + concatStringsSep "" (
      map (k: concatStringsSep "" (map (t: "\n[[${path k}]]\n" + tomlSection (path k) t) set.${k})) arrays
    );

  # INI and key=value: nixpkgs' default value rendering.
  mkValueString =
    v:
    if isBool v then
      (if v then "true" else "false")
    else if isString v || isInt v || isFloat v || isDrvOrPath v then
      toString v
    else
      throw "pkgs.formats: cannot represent a value of type ${typeOf v} as an INI/key-value value";
  mkKeyValueDefault = { sep ? "=" }: k: v: "${k}${sep}${mkValueString v}";
  keyValueLines =
    { mkKeyValue, listsAsDuplicateKeys }:
    set:
    concatStringsSep "" (
      map (
        k:
        let
          v = set.${k};
        in
        if isList v && listsAsDuplicateKeys then
          concatStringsSep "" (map (x: mkKeyValue k x + "\n") v)
        else if isList v then
          throw "pkgs.formats: '${k}' is a list; set listsAsDuplicateKeys = true to repeat the key"
        else
          mkKeyValue k v + "\n"
      ) (attrNames set)
    );
in
{
  json =
    { }:
    {
      generate = name: value: pkgs.writeText name (toJSON value + "\n");
      type = types.nullOr (valueType "JSON value" scalars);
    };

  # JSON is YAML 1.2, so the JSON rendering is a valid YAML file.
  yaml =
    { }:
    {
      generate = name: value: pkgs.writeText name (toJSON value + "\n");
      type = types.nullOr (valueType "YAML value" scalars);
    };
  yaml_1_2 = pkgs.formats.yaml;

  toml =
    { }:
    {
      generate =
        name: value:
        if isTable value then
          pkgs.writeText name (tomlSection "" value)
        else
          throw "pkgs.formats.toml: the top level must be an attribute set";
      type = valueType "TOML value" scalars;
    };

  ini =
    {
      listsAsDuplicateKeys ? false,
      mkKeyValue ? mkKeyValueDefault { },
      ...
    }:
    {
      generate =
        name: value:
        pkgs.writeText name (
          concatStringsSep "\n" (
            map (s: "[${s}]\n" + keyValueLines { inherit mkKeyValue listsAsDuplicateKeys; } value.${s}) (
              attrNames value
            )
          )
        );
      type = types.attrsOf (types.attrsOf (iniAtom listsAsDuplicateKeys));
    };

  keyValue =
    {
      listsAsDuplicateKeys ? false,
      mkKeyValue ? mkKeyValueDefault { },
      ...
    }:
    {
      generate =
        name: value: pkgs.writeText name (keyValueLines { inherit mkKeyValue listsAsDuplicateKeys; } value);
      type = types.attrsOf (iniAtom listsAsDuplicateKeys);
    };
}
