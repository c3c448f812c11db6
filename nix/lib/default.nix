# ox's nixpkgs-compatible `lib`. The module system and option types are
# native (builtins.ox, from crates/ox-modules); the rest is small Nix on
# top of builtins. docs/lib.md lists every function and its status.
let
  native = builtins.ox or (throw "this lib is ox's: it needs the ox evaluator (builtins.ox is missing)");

  lib = let
    call = file: import file { inherit lib; };
    callN = file: import file { inherit lib native; };
    trivial = call ./trivial.nix;
    lists = call ./lists.nix;
    strings = call ./strings.nix;
    attrsets = call ./attrsets.nix;
    options = callN ./options.nix;
    modules = callN ./modules.nix;
    generators = callN ./generators.nix;
    asserts = call ./asserts.nix;
    dag = call ./dag.nix;
    types = native.types // {
      # nixpkgs names that are plain aliases
      loaOf = native.types.attrsOf;
      string = native.types.separatedString "";
      dagOf = elemType: native.types.attrsOf (native.types.submodule {
        options = {
          data = options.mkOption { type = elemType; };
          after = options.mkOption { type = native.types.listOf native.types.str; default = [ ]; };
          before = options.mkOption { type = native.types.listOf native.types.str; default = [ ]; };
        };
      });
    };
    fixedPoints = {
      inherit (trivial) fix fix' extends composeExtensions composeManyExtensions makeExtensible makeExtensibleWithCustomName;
      converge = f: x: let x' = f x; in if x' == x then x else fixedPoints.converge f x';
      toExtension = f: if trivial.isFunction f then final: prev: let fPrev = f prev; in if trivial.isFunction fPrev then f final prev else fPrev else final: prev: f;
    };
    customisation = {
      makeOverridable = f: origArgs:
        let
          result = f origArgs;
          overrideWith = newArgs: origArgs // (if trivial.isFunction newArgs then newArgs origArgs else newArgs);
        in if builtins.isAttrs result then result // {
          override = newArgs: customisation.makeOverridable f (overrideWith newArgs);
        } else if trivial.isFunction result then { __functor = self: result; override = newArgs: customisation.makeOverridable f (overrideWith newArgs); }
        else result;
      callPackageWith = autoArgs: fn: args:
        let
          f = if trivial.isFunction fn then fn else import fn;
          fargs = trivial.functionArgs f;
          allArgs = builtins.intersectAttrs fargs autoArgs // args;
        in customisation.makeOverridable f allArgs;
      callPackagesWith = autoArgs: fn: args:
        let
          f = if trivial.isFunction fn then fn else import fn;
          auto = builtins.intersectAttrs (trivial.functionArgs f) autoArgs;
        in f (auto // args);
    };
    versions = {
      splitVersion = builtins.splitVersion;
      major = v: builtins.elemAt (builtins.splitVersion v) 0;
      minor = v: builtins.elemAt (builtins.splitVersion v) 1;
      patch = v: builtins.elemAt (builtins.splitVersion v) 2;
      majorMinor = v: builtins.concatStringsSep "." (lists.take 2 (builtins.splitVersion v));
      pad = n: version:
        let numericVersion = lists.head (strings.splitString "-" version);
            versionSuffix = strings.removePrefix numericVersion version;
        in builtins.concatStringsSep "." (lists.take n (builtins.splitVersion numericVersion ++ lists.genList (_: "0") n)) + versionSuffix;
    };
    meta = {
      getExe = x: meta.getExe' x (x.meta.mainProgram or (strings.getName x));
      getExe' = x: y: "${attrsets.getBin x}/bin/${y}";
      addMetaAttrs = newAttrs: drv: drv // { meta = (drv.meta or { }) // newAttrs; };
      dontDistribute = drv: meta.addMetaAttrs { hydraPlatforms = [ ]; } drv;
      setName = name: drv: drv // { inherit name; };
      lowPrio = meta.setPrio 10;
      hiPrio = meta.setPrio (-10);
      setPrio = priority: meta.addMetaAttrs { inherit priority; };
    };
    notImplemented = names: builtins.listToAttrs (map (n: {
      name = n;
      value = throw "lib.${n} is not implemented by ox";
    }) names);
    missing = import ./missing.nix;
  in
  notImplemented missing
  // trivial // lists // attrsets // strings // options // modules // asserts
  // {
    inherit trivial lists strings attrsets options modules types generators asserts fixedPoints customisation versions meta;
    inherit (meta) getExe getExe' lowPrio hiPrio addMetaAttrs setPrio;
    mapAttrsFlatten = attrsets.mapAttrsToList;
    hm = { inherit dag; };
    inherit (lists) replicate hasPrefix removePrefix;
    inherit (strings) concatLines;
    inherit (types) mkOptionType isType;
    inherit (customisation) makeOverridable callPackageWith callPackagesWith;
    isOptionType = types.isType "option-type";
    setType = typeName: value: value // { _type = typeName; };
    inherit (fixedPoints) converge toExtension;
    recursiveUpdate = attrsets.recursiveUpdate;
  } // {
    # strings win over lists for the names they share, as in nixpkgs
    inherit (strings) hasPrefix removePrefix;
  };
in
lib
