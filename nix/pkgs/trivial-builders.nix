# The trivial builders configurations use. Files, links and substitutions
# are made by ox's in-process builders (`builtin:ox-*`, docs/store.md);
# `runCommand` runs a shell in the build sandbox with the host's /usr,
# /bin, /lib and /lib64 as its (declared) impure toolchain.
{ pkgs }:
let
  inherit (pkgs) system;

  # The host directories a process builder may see; recorded in the
  # derivation (and so in its hash) as `__impureHostDeps`.
  hostToolchain = [
    "/usr"
    "/bin"
    "/lib"
    "/lib64"
  ];

  # `derivation` plus attributes that are not part of the derivation
  # (meta, passthru), as mkDerivation adds them.
  mkDrv =
    attrs: extra:
    let
      drv = derivation attrs;
    in
    drv // extra;

  storeName =
    p:
    let
      base = baseNameOf (toString p);
      m = builtins.match "[0-9a-df-np-sv-z]{32}-(.*)" base;
    in
    if m == null then base else builtins.head m;

  noCheck =
    what: x:
    if x != "" then
      throw "${what}: checkPhase/postBuild are not supported by ox's in-process builders yet; use runCommand"
    else
      true;
in
rec {
  # writeTextFile { name, text, executable ? false, destination ? "" }
  writeTextFile =
    {
      name,
      text,
      executable ? false,
      destination ? "",
      checkPhase ? "",
      meta ? { },
      passthru ? { },
      allowSubstitutes ? false,
      preferLocalBuild ? true,
      derivationArgs ? { },
    }:
    assert noCheck "writeTextFile '${name}'" checkPhase;
    assert
      destination == "" || builtins.substring 0 1 destination == "/"
      || throw "writeTextFile '${name}': destination '${destination}' must start with '/'";
    mkDrv (
      {
        inherit name text executable destination;
        system = "builtin";
        builder = "builtin:ox-write-file";
      }
      // derivationArgs
    ) ({ inherit meta; } // passthru);

  writeText = name: text: writeTextFile { inherit name text; };

  writeTextDir =
    path: text:
    writeTextFile {
      name = baseNameOf path;
      inherit text;
      destination = "/${path}";
    };

  writeScript =
    name: text:
    writeTextFile {
      inherit name text;
      executable = true;
    };

  writeScriptBin =
    name: text:
    writeTextFile {
      inherit name text;
      executable = true;
      destination = "/bin/${name}";
    };

  writeShellScript =
    name: text:
    writeTextFile {
      inherit name;
      executable = true;
      text = ''
        #!${pkgs.runtimeShell}
        ${text}
      '';
    };

  writeShellScriptBin =
    name: text:
    writeTextFile {
      inherit name;
      executable = true;
      destination = "/bin/${name}";
      text = ''
        #!${pkgs.runtimeShell}
        ${text}
      '';
    };

  # runCommand name env buildCommand: run `buildCommand` with bash (-e)
  # in the sandbox; `$out` must be created. `nativeBuildInputs` and
  # `buildInputs` put their bin/ on PATH before the host's.
  runCommandWith =
    {
      name,
      derivationArgs ? { },
    }:
    buildCommand:
    let
      inputs = (derivationArgs.nativeBuildInputs or [ ]) ++ (derivationArgs.buildInputs or [ ]);
      binPath = builtins.concatStringsSep ":" (map (p: "${p}/bin") inputs);
      passthru = derivationArgs.passthru or { };
      meta = derivationArgs.meta or { };
      args = removeAttrs derivationArgs [
        "passthru"
        "meta"
      ];
    in
    mkDrv (
      {
        inherit name system buildCommand;
        builder = "/bin/bash";
        args = [
          "-e"
          "-c"
          ". \"$buildCommandPath\""
        ];
        passAsFile = [ "buildCommand" ];
        PATH = (if binPath == "" then "" else binPath + ":") + "/usr/bin:/bin";
        __impureHostDeps = hostToolchain;
      }
      // args
    ) ({ inherit meta; } // passthru);

  runCommand =
    name: env: buildCommand:
    runCommandWith {
      inherit name;
      derivationArgs = env;
    } buildCommand;

  runCommandLocal = runCommand;
  runCommandNoCC = runCommand;

  # symlinkJoin { name, paths }: one tree with the union of `paths`
  # (directories merged, files linked; the first path providing a file wins).
  symlinkJoin =
    {
      name,
      paths,
      postBuild ? "",
      meta ? { },
      passthru ? { },
      ...
    }:
    assert noCheck "symlinkJoin '${name}'" postBuild;
    mkDrv {
      inherit name;
      system = "builtin";
      builder = "builtin:ox-symlink-join";
      paths = builtins.toJSON (map toString paths);
    } ({ inherit meta; } // passthru);

  # linkFarm name entries: `entries` is a list of { name, path } or a set
  # name -> path; `$out/<name>` links to `path`.
  linkFarm =
    name: entries:
    let
      list =
        if builtins.isList entries then
          entries
        else
          map (n: {
            name = n;
            path = entries.${n};
          }) (builtins.attrNames entries);
    in
    mkDrv {
      inherit name;
      system = "builtin";
      builder = "builtin:ox-link-farm";
      entries = builtins.toJSON (
        map (e: {
          inherit (e) name;
          path = toString e.path;
        }) list
      );
    } { };

  linkFarmFromDrvs =
    name: drvs:
    linkFarm name (
      map (d: {
        name = d.name;
        path = d;
      }) drvs
    );

  # replaceVars src { NAME = value; }: `@NAME@` in `src` becomes `value`;
  # a pattern that does not occur, or an `@word@` left over, is an error
  # (a null value keeps `@NAME@`).
  replaceVars =
    src: replacements:
    mkDrv {
      name = storeName src;
      system = "builtin";
      builder = "builtin:ox-substitute";
      inherit src;
      replacements = builtins.toJSON replacements;
      checkLeftovers = true;
    } { };

  replaceVarsWith =
    {
      src,
      replacements,
      name ? storeName src,
      isExecutable ? false,
      dir ? null,
    }:
    mkDrv (
      {
        inherit name src isExecutable;
        system = "builtin";
        builder = "builtin:ox-substitute";
        replacements = builtins.toJSON replacements;
        checkLeftovers = true;
      }
      // (if dir == null then { } else { destination = "/${dir}/${name}"; })
    ) { };

  # substituteAll { src, … }: every other attribute NAME (also `name`)
  # replaces @NAME@.
  substituteAll =
    args:
    let
      reserved = [
        "src"
        "isExecutable"
        "meta"
        "passthru"
      ];
      replacements = builtins.mapAttrs (_: v: if builtins.isBool v then (if v then "1" else "") else toString v) (
        removeAttrs args reserved
      );
    in
    mkDrv {
      name = args.name or (storeName args.src);
      system = "builtin";
      builder = "builtin:ox-substitute";
      inherit (args) src;
      isExecutable = args.isExecutable or false;
      replacements = builtins.toJSON replacements;
    } { meta = args.meta or { }; };

  # copyPathToStore-like: a store copy of `src` under `name`.
  copyPath =
    name: src:
    mkDrv {
      inherit name src;
      system = "builtin";
      builder = "builtin:ox-copy";
    } { };
}
