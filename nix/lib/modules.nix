# lib.modules: property constructors and rename helpers in Nix; the module
# system itself (`evalModules`) is native (builtins.ox.evalModules).
{ lib, native }:
let
  inherit (lib) mkOption setAttrByPath getAttrFromPath attrByPath showOption showFiles optionalAttrs optional;
in
rec {
  evalModules = args: native.evalModules lib args;
  defaultOverridePriority = 100;
  defaultPriority = defaultOverridePriority;
  defaultOrderPriority = 1000;
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkAssert = assertion: message: content:
    mkIf (if assertion then true else throw "\nFailed assertion: ${message}") content;
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkDefinition = args@{ file, value, ... }: args // { _type = "definition"; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkImageMediaOverride = mkOverride 60;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  mkFixStrictness = lib.warn "lib.mkFixStrictness has no effect and will be removed." (x: x);
  mkOrder = priority: content: { _type = "order"; inherit priority content; };
  mkBefore = mkOrder 500;
  mkAfter = mkOrder 1500;
  mkAliasDefinitions = mkAliasAndWrapDefinitions (x: x);
  mkAliasAndWrapDefinitions = wrap: option:
    mkAliasIfDef option (wrap (mkMerge option.definitions));
  mkAliasAndWrapDefsWithPriority = wrap: option:
    let
      prio = option.highestPrio or defaultOverridePriority;
      defsWithPrio = map (mkOverride prio) option.definitions;
    in mkIf option.isDefined (wrap (mkMerge defsWithPrio));
  mkAliasIfDef = option: mkIf (lib.isOption option && option.isDefined);
  mkDerivedConfig = opt: f: mkOverride (opt.highestPrio or defaultOverridePriority) (f opt.value);
  mergeDefinitions = loc: type: defs: native.mergeDefinitions loc type defs;
  setDefaultModuleLocation = file: m: { _file = file; imports = [ m ]; };
  importApply = modulePath: staticArg:
    lib.setDefaultModuleLocation modulePath (import modulePath staticArg);
  # nixpkgs' property helpers, for code that calls them directly.
  dischargeProperties = def:
    if def._type or "" == "merge" then lib.concatMap dischargeProperties def.contents
    else if def._type or "" == "if" then
      (if builtins.isBool def.condition then (if def.condition then dischargeProperties def.content else [ ])
       else throw "‘mkIf’ called with a non-Boolean condition")
    else [ def ];
  filterOverrides = defs: (filterOverrides' defs).values;
  filterOverrides' = defs:
    let
      getPrio = def: if def.value._type or "" == "override" then def.value.priority else defaultOverridePriority;
      highestPrio = builtins.foldl' (prio: def: lib.min (getPrio def) prio) 9999 defs;
      strip = def: if def.value._type or "" == "override" then def // { value = def.value.content; } else def;
    in { values = lib.concatMap (def: if getPrio def == highestPrio then [ (strip def) ] else [ ]) defs; inherit highestPrio; };
  sortProperties = defs:
    let
      strip = def: if def.value._type or "" == "order" then def // { value = def.value.content; inherit (def.value) priority; } else def;
      defs' = map strip defs;
      compare = a: b: (a.priority or defaultOrderPriority) < (b.priority or defaultOrderPriority);
    in lib.sortOn (d: d.priority or defaultOrderPriority) defs';
  pushDownProperties = cfg:
    if cfg._type or "" == "merge" then lib.concatMap pushDownProperties cfg.contents
    else if cfg._type or "" == "if" then map (builtins.mapAttrs (n: v: mkIf cfg.condition v)) (pushDownProperties cfg.content)
    else if cfg._type or "" == "override" then map (builtins.mapAttrs (n: v: mkOverride cfg.priority v)) (pushDownProperties cfg.content)
    else [ cfg ];

  doRename = { from, to, visible, warn, use, withPriority ? true, condition ? true }:
    { config, options, ... }:
    let
      fromOpt = getAttrFromPath from options;
      toOf = attrByPath to (abort "Renaming error: option `${showOption to}' does not exist.");
      toType = let opt = attrByPath to { } options; in opt.type or (lib.types.submodule { });
    in {
      options = setAttrByPath from (mkOption {
        inherit visible;
        description = "Alias of {option}`${showOption to}`.";
        apply = x: use (toOf config);
      } // optionalAttrs (toType != null) { type = toType; });
      config = mkIf condition (mkMerge [
        (optionalAttrs (options ? warnings) {
          warnings = optional (warn && fromOpt.isDefined)
            "The option `${showOption from}' defined in ${showFiles fromOpt.files} has been renamed to `${showOption to}'.";
        })
        (if withPriority then mkAliasAndWrapDefsWithPriority (setAttrByPath to) fromOpt
         else mkAliasAndWrapDefinitions (setAttrByPath to) fromOpt)
      ]);
    };
  mkRenamedOptionModule = from: to: doRename {
    inherit from to;
    visible = false;
    warn = true;
    use = builtins.trace "Obsolete option `${showOption from}' is used. It was renamed to `${showOption to}'.";
  };
  mkRenamedOptionModuleWith = { from, to, sinceRelease }: doRename {
    inherit from to;
    visible = false;
    warn = lib.isInOldestRelease sinceRelease;
    use = lib.warnIf (lib.isInOldestRelease sinceRelease)
      "Obsolete option `${showOption from}' is used. It was renamed to `${showOption to}'.";
  };
  mkAliasOptionModule = from: to: doRename {
    inherit from to;
    visible = true;
    warn = false;
    use = x: x;
  };
  mkAliasOptionModuleMD = mkAliasOptionModule;
  mkRemovedOptionModule = optionName: replacementInstructions:
    { options, ... }: {
      options = setAttrByPath optionName (mkOption {
        visible = false;
        apply = x: throw "The option `${showOption optionName}' can no longer be used since it's been removed. ${replacementInstructions}";
      });
      config.assertions =
        let opt = getAttrFromPath optionName options; in
        [ {
          assertion = !opt.isDefined;
          message = ''
            The option definition `${showOption optionName}' in ${showFiles opt.files} no longer has any effect; please remove it.
            ${replacementInstructions}
          '';
        } ];
    };
  mkMergedOptionModule = from: to: mergeFn:
    { config, options, ... }: {
      options = builtins.foldl' lib.recursiveUpdate { } (map (path: setAttrByPath path (mkOption {
        visible = false;
        default = "_mkMergedOptionModule";
      })) from);
      config = {
        warnings = builtins.filter (x: x != "") (map (f:
          let val = getAttrFromPath f config; opt = getAttrFromPath f options; in
          lib.optionalString (val != "_mkMergedOptionModule")
            "The option `${showOption f}' defined in ${showFiles opt.files} has been changed to `${showOption to}' that has a different type. Please read `${showOption to}' documentation and update your configuration accordingly."
        ) from);
      } // setAttrByPath to (mkMerge (optional
        (builtins.any (f: (getAttrFromPath f config) != "_mkMergedOptionModule") from)
        (mergeFn config)));
    };
  mkChangedOptionModule = from: to: changeFn: mkMergedOptionModule [ from ] to changeFn;
}
