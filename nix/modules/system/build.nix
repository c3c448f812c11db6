# What `ox build` reads: `system.build.oxChecks` (failed assertions and
# warnings, checked before anything is built) and `system.build.oxPlan`,
# the option values ox-system renders into the toplevel, with paths
# turned into strings (a local path stays its absolute path: the builder
# copies it) and packages into Debian names.
{ config, lib, options, pkgs, ... }:
let
  inherit (lib) mapAttrs filterAttrs;

  # a local path as its absolute path (not copied by the evaluator)
  pathStr = p: if p == null then null else if builtins.isPath p then toString p else "${p}";

  # The Debian identity of a package: a locked package's `debian`
  # attribute (nix/pkgs/debian.nix), else the pin table's
  # pseudo-derivation fields; a string is a name looked up in `pkgs` (the
  # lock first) and then the pin table, the fallback.
  pins = (import ../misc/debian-packages.nix { }).debianPins;
  pkgName = p:
    if builtins.isString p then
      let d = pkgs.${p} or null; in
      if builtins.isAttrs d && d ? debian then pkgName d
      else { name = p; version = pins.${p} or null; }
    else if p ? debian then { inherit (p.debian) name version sha256; }
    else {
      name = p.debianPackage or p.pname or (lib.getName p);
      version = p.debianVersion or p.version or null;
    };
  # packages from the package set carry their Debian name; other
  # derivations (store-built) are not apt packages
  isDebian = p: builtins.isString p || p ? debian || p ? debianPackage;
  # store-built packages (writeShellScriptBin, …): their out paths, built
  # by `ox build` through the string context
  storePkgs = ps: map (p: "${p}") (builtins.filter (p: !isDebian p && lib.isDerivation p) ps);

  shellStr = s:
    if s == null then null
    else if lib.isDerivation s then (s.shellPath or "/bin/${s.pname or (lib.getName s)}")
    else toString s;

  envStr = v: if v == null then null else if builtins.isString v then v else "${v}";

  unitCommon = u: {
    inherit (u) enable description documentation requires wants upholds after before
      bindsTo partOf conflicts requisite wantedBy requiredBy upheldBy aliases
      onFailure onSuccess startLimitBurst startLimitIntervalSec unitConfig overrideStrategy;
    restartTriggers = map toTrigger u.restartTriggers;
    reloadTriggers = map toTrigger u.reloadTriggers;
  };
  toTrigger = t:
    if builtins.isList t then map toTrigger t
    else if builtins.isPath t || lib.isDerivation t then "${t}"
    else if builtins.isAttrs t then builtins.toJSON t
    else t;
  service = u: unitCommon u // {
    inherit (u) serviceConfig script scriptArgs preStart postStart reload preStop postStop
      restartIfChanged reloadIfChanged stopIfChanged notSocketActivated startAt;
    environment = mapAttrs (_: envStr) u.environment;
    path = map (p: if builtins.isString p then p else "${p}") u.path;
  };
  unitSets = s: {
    services = mapAttrs (_: service) s.services;
    timers = mapAttrs (_: u: unitCommon u // { inherit (u) timerConfig; }) s.timers;
    sockets = mapAttrs (_: u: unitCommon u // { inherit (u) socketConfig listenStreams listenDatagrams; }) s.sockets;
    paths = mapAttrs (_: u: unitCommon u // { inherit (u) pathConfig; }) s.paths;
    targets = mapAttrs (_: unitCommon) s.targets;
    slices = mapAttrs (_: u: unitCommon u // { inherit (u) sliceConfig; }) s.slices;
  };

  fileEntry = f: {
    inherit (f) enable target text executable recursive force onChange;
    source = pathStr f.source;
  };

  homePlan = name: hm: {
    home = {
      inherit (hm.home) username homeDirectory;
      file = mapAttrs (_: fileEntry) hm.home.file;
      packages = map pkgName (builtins.filter isDebian hm.home.packages);
      storePackages = storePkgs hm.home.packages;
      sessionVariables = mapAttrs (_: envStr) hm.home.sessionVariables;
      activation = mapAttrs (_: e: { inherit (e) data after before; }) hm.home.activation;
    };
    xdg = {
      inherit (hm.xdg) configHome;
      configFile = mapAttrs (_: fileEntry) hm.xdg.configFile;
    };
    systemd.user = lib.genAttrs [ "services" "timers" "sockets" "paths" "targets" "slices" ]
      (k: hm.systemd.user.${k});
  };

  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
in
{
  config.system.build = {
    oxChecks = {
      inherit failedAssertions;
      inherit (config) warnings;
    };

    oxPlan = {
      networking = { inherit (config.networking) hostName domain hosts extraHosts; };
      time = { inherit (config.time) timeZone; };
      i18n = {
        inherit (config.i18n) defaultLocale extraLocaleSettings;
        # NixOS writes NAME/CHARSET, locale.gen wants "NAME CHARSET"
        supportedLocales = map (lib.replaceStrings [ "/" ] [ " " ]) config.i18n.supportedLocales;
      };
      console = { inherit (config.console) keyMap font; };
      environment = {
        etc = mapAttrs (_: e: {
          inherit (e) enable target text mode user group uid gid onConflict;
          source = pathStr e.source;
        }) config.environment.etc;
        systemPackages = map pkgName (builtins.filter isDebian
          (config.environment.systemPackages
            ++ lib.concatMap (u: u.packages) (lib.attrValues config.users.users)));
        storePackages = storePkgs (config.environment.systemPackages
          ++ lib.concatMap (u: u.packages) (lib.attrValues config.users.users));
        inherit (config.environment) variables sessionVariables;
        shellAliases = mapAttrs (_: a: if a == null then null else toString a) config.environment.shellAliases;
      };
      systemd = unitSets config.systemd // {
        user = unitSets config.systemd.user;
        tmpfiles.rules = config.systemd.tmpfiles.rules;
        globalEnvironment = mapAttrs (_: envStr) config.systemd.globalEnvironment;
      };
      users = {
        inherit (config.users) mutableUsers;
        users = mapAttrs (_: u: {
          inherit (u) name uid isNormalUser isSystemUser group extraGroups description home
            createHome hashedPassword hashedPasswordFile;
          shell = shellStr (if u.shell == null && u.useDefaultShell then config.users.defaultUserShell else u.shell);
          openssh.authorizedKeys.keys = u.openssh.authorizedKeys.keys
            ++ lib.concatMap (f: lib.filter (l: l != "" && !(lib.hasPrefix "#" l))
              (lib.splitString "\n" (builtins.readFile f))) u.openssh.authorizedKeys.keyFiles;
        }) config.users.users;
        groups = mapAttrs (_: g: { inherit (g) name gid members; }) config.users.groups;
      };
      fileSystems = mapAttrs (_: fs: {
        inherit (fs) mountPoint device label fsType options neededForBoot noCheck;
      }) config.fileSystems;
      swapDevices = map (s: { inherit (s) device label priority discardPolicy options; }) config.swapDevices;
      boot.initrd = {
        inherit (config.boot.initrd) checkJournalingFS;
        luks.devices = mapAttrs (_: d: {
          inherit (d) device keyFile allowDiscards bypassWorkqueues crypttabExtraOpts;
        }) config.boot.initrd.luks.devices;
      };
      home-manager.users = mapAttrs homePlan config.home-manager.users;
      system = {
        inherit (config.system) stateVersion;
        system = config.nixpkgs.system;
      };
      secrets = config.system.build.oxSecrets or [ ];
    };
  };
}
