# lib.options (ox's own implementation; merging helpers are native).
{ lib, native }:
let
  inherit (lib) optionalAttrs filter concatMap collect;
in
rec {
  isOption = lib.isType "option";
  # Native (`builtins.ox.mkOption`): `attrs // { _type = "option"; }` for
  # an argument with only the attributes nixpkgs' mkOption accepts
  # (default defaultText example description relatedPackages type apply
  # internal visible readOnly).
  mkOption = native.mkOption;
  mkEnableOption = name: mkOption {
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
    type = lib.types.bool;
  };
  mkPackageOption = pkgs: name:
    { nullable ? false, default ? name, example ? null, extraDescription ? "", pkgsText ? "pkgs" }:
    let
      name' = if builtins.isList name then lib.last name else name;
      default' = if builtins.isList default then default else [ default ];
      defaultText = lib.showAttrPath default';
      defaultValue = lib.attrByPath default' (throw "${defaultText} cannot be found in ${pkgsText}") pkgs;
      defaults = if default != null then {
          default = defaultValue;
          defaultText = literalExpression "${pkgsText}.${defaultText}";
        } else optionalAttrs nullable { default = null; };
    in mkOption (defaults // {
      description = "The ${name'} package to use." + (if extraDescription == "" then "" else " ") + extraDescription;
      type = if nullable then lib.types.nullOr lib.types.package else lib.types.package;
    } // optionalAttrs (example != null) {
      example = literalExpression (if builtins.isList example then "${pkgsText}.${lib.showAttrPath example}" else example);
    });
  mkPackageOptionMD = mkPackageOption;
  mkSinkUndeclaredOptions = attrs: mkOption ({
    internal = true; visible = false; default = false; description = "Sink for option definitions.";
    type = lib.types.mkOptionType { name = "sink"; check = x: true; merge = loc: defs: false; };
    apply = x: throw "Option value is not readable because the option is not declared.";
  } // attrs);
  mergeDefaultOption = loc: defs: lib.types.unspecified.merge loc defs;
  mergeOneOption = native.mergeOneOption;
  mergeEqualOption = native.mergeEqualOption;
  mergeUniqueOption = { message, merge ? loc: defs: (builtins.head defs).value }:
    loc: defs: (lib.types.unique { inherit message; } (lib.types.mkOptionType { name = "x"; inherit merge; })).merge loc defs;
  getValues = map (x: x.value);
  getFiles = map (x: x.file);
  optionAttrSetToDocList = optionAttrSetToDocList' [ ];
  optionAttrSetToDocList' = _: options:
    concatMap (opt:
      let
        name = showOption opt.loc;
        visible = if (opt ? visible && opt.visible == "shallow") then true
          else if (opt ? visible && opt.visible == "transparent") then false
          else if opt ? visible && opt.visible != null then opt.visible else true;
        docOption = {
          loc = opt.loc;
          inherit name visible;
          description = opt.description or null;
          declarations = filter (x: x != unknownModule) opt.declarations;
          internal = if opt.internal or null == null then false else opt.internal;
          readOnly = if opt.readOnly or null == null then false else opt.readOnly;
          type = opt.type.description or "unspecified";
        }
        // optionalAttrs (opt ? example && opt.example != null) { example = renderOptionValue opt.example; }
        // optionalAttrs ((opt ? defaultText && opt.defaultText != null) || opt ? default) {
          default = renderOptionValue (if opt ? defaultText && opt.defaultText != null then opt.defaultText else opt.default);
        }
        // optionalAttrs (opt ? relatedPackages && opt.relatedPackages != null) { inherit (opt) relatedPackages; };
        subOptions = let ss = opt.type.getSubOptions opt.loc; in
          if ss != { } then optionAttrSetToDocList' opt.loc ss else [ ];
        subOptionsVisible = (visible || opt.visible or null == "transparent") && opt.visible or null != "shallow";
      in [ docOption ] ++ lib.optionals subOptionsVisible subOptions
    ) (collect isOption options);
  scrubOptionValue = x:
    if lib.isDerivation x then { type = "derivation"; drvPath = x.name; outPath = x.name; name = x.name; }
    else if builtins.isList x then map scrubOptionValue x
    else if builtins.isAttrs x then builtins.mapAttrs (n: v: scrubOptionValue v) (removeAttrs x [ "_args" ])
    else x;
  renderOptionValue = v:
    if v ? _type && v ? text then v
    else literalExpression (lib.generators.toPretty { multiline = true; } v);
  literalExpression = text:
    if !builtins.isString text then throw "literalExpression expects a string."
    else { _type = "literalExpression"; inherit text; };
  literalExample = literalExpression;
  literalMD = text:
    if !builtins.isString text then throw "literalMD expects a string."
    else { _type = "literalMD"; inherit text; };
  literalCode = languageTag: text: literalMD "```${languageTag}\n${text}\n```";
  mdDoc = x: x;
  showOption = native.showOption;
  showOptionWithDefLocs = opt: "${showOption opt.loc}, with values defined in:\n${lib.concatMapStrings (f: "  - ${f}\n") opt.files}";
  showFiles = files: lib.concatStringsSep " and " (map (f: "`${f}'") files);
  showDefs = native.showDefs;
  unknownModule = "<unknown-file>";
}
