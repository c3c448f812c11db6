# systemd.services/timers/sockets/paths/targets/slices, systemd.user.*,
# systemd.tmpfiles.rules, with NixOS's unit options. ox-system renders
# them exactly as nixos/lib/systemd-lib.nix does (docs/system.md).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  # NixOS's unit option value: lists concatenate, anything else must be
  # defined once (or equally)
  unitOption = types.mkOptionType {
    name = "systemd option";
    description = "systemd option";
    check = v: builtins.isBool v || builtins.isInt v || builtins.isString v || builtins.isPath v || builtins.isList v || lib.isDerivation v || builtins.isFloat v || v == null;
    merge = loc: defs:
      let defs' = lib.filterOverrides defs; in
      if lib.any (d: builtins.isList d.value) defs'
      then lib.concatMap (d: lib.toList d.value) defs'
      else lib.mergeEqualOption loc defs';
  };
  unitSection = types.attrsOf unitOption;
  unitNames = types.listOf types.str;

  commonOptions = { name, ... }: {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "If false, the unit is masked (a link to /dev/null).";
      };
      description = mkOption {
        type = types.singleLineStr;
        default = "";
        description = "Description of this unit used in systemd messages and progress indicators.";
      };
      documentation = mkOption { type = unitNames; default = [ ]; description = "A list of URIs referencing documentation for this unit."; };
      requires = mkOption { type = unitNames; default = [ ]; description = "Start the specified units when this unit is started, and stop this unit when they stop or fail."; };
      wants = mkOption { type = unitNames; default = [ ]; description = "Start the specified units when this unit is started."; };
      upholds = mkOption { type = unitNames; default = [ ]; description = "Keeps the specified running while this unit is running."; };
      after = mkOption { type = unitNames; default = [ ]; description = "If the specified units are started at the same time as this unit, delay this unit until they have started."; };
      before = mkOption { type = unitNames; default = [ ]; description = "If the specified units are started at the same time as this unit, delay them until this unit has started."; };
      bindsTo = mkOption { type = unitNames; default = [ ]; description = "Like requires, but in addition, if the specified units unexpectedly disappear, this unit will be stopped as well."; };
      partOf = mkOption { type = unitNames; default = [ ]; description = "If the specified units are stopped or restarted, then this unit is stopped or restarted as well."; };
      conflicts = mkOption { type = unitNames; default = [ ]; description = "If the specified units are started, then this unit is stopped and vice versa."; };
      requisite = mkOption { type = unitNames; default = [ ]; description = "Similar to requires, but the specified units are not started, only checked."; };
      wantedBy = mkOption { type = unitNames; default = [ ]; description = "Units that want (i.e. depend on) this unit (.wants links)."; };
      requiredBy = mkOption { type = unitNames; default = [ ]; description = "Units that require (i.e. depend on and need to go down with) this unit (.requires links)."; };
      upheldBy = mkOption { type = unitNames; default = [ ]; description = "Units that keep this unit running (.upholds links)."; };
      aliases = mkOption { type = unitNames; default = [ ]; description = "Aliases of that unit."; };
      onFailure = mkOption { type = unitNames; default = [ ]; description = "Units activated when this unit enters the failed state."; };
      onSuccess = mkOption { type = unitNames; default = [ ]; description = "Units activated when this unit enters the inactive state."; };
      startLimitBurst = mkOption { type = types.nullOr types.int; default = null; description = "Configure unit start rate limiting."; };
      startLimitIntervalSec = mkOption { type = types.nullOr types.int; default = null; description = "Configure unit start rate limiting."; };
      unitConfig = mkOption {
        default = { };
        example = { RequiresMountsFor = "/data"; };
        type = unitSection;
        description = "Each attribute in this set specifies an option in the [Unit] section of the unit file.";
      };
      restartTriggers = mkOption {
        default = [ ];
        type = types.listOf types.unspecified;
        description = "An arbitrary list of items such as derivations; if any changes, the unit is restarted on switch.";
      };
      reloadTriggers = mkOption {
        default = [ ];
        type = types.listOf types.unspecified;
        description = "An arbitrary list of items; if any changes, the unit is reloaded on switch.";
      };
      overrideStrategy = mkOption {
        default = "asDropinIfExists";
        type = types.enum [ "asDropinIfExists" "asDropin" ];
        description = ''
          "asDropin": render the unit as /etc/systemd/system/<unit>.d/overrides.conf,
          extending the unit a Debian package ships. "asDropinIfExists" (the
          default): ox cannot know which units Debian ships, so a full unit.
        '';
      };
    };
  };

  serviceOptions = { name, config, ... }: {
    options = {
      serviceConfig = mkOption {
        default = { };
        example = { RestartSec = 5; };
        type = unitSection;
        description = "Each attribute in this set specifies an option in the [Service] section of the unit.";
      };
      environment = mkOption {
        default = { };
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        example = { PATH = "/foo/bar/bin"; LANG = "nl_NL.UTF-8"; };
        description = "Environment variables passed to the service's processes.";
      };
      path = mkOption {
        default = [ ];
        type = types.listOf (types.oneOf [ types.package types.str ]);
        description = ''
          Packages added to the service's PATH (their bin and sbin
          subdirectories), followed by Debian's default PATH.
        '';
      };
      script = mkOption { type = types.lines; default = ""; description = "Shell commands executed as the service's main process."; };
      scriptArgs = mkOption { type = types.str; default = ""; example = "%i"; description = "Arguments passed to the main process script."; };
      preStart = mkOption { type = types.lines; default = ""; description = "Shell commands executed before the service's main process is started."; };
      postStart = mkOption { type = types.lines; default = ""; description = "Shell commands executed after the service's main process is started."; };
      reload = mkOption { type = types.lines; default = ""; description = "Shell commands executed when the service's main process is reloaded."; };
      preStop = mkOption { type = types.lines; default = ""; description = "Shell commands executed to stop the service."; };
      postStop = mkOption { type = types.lines; default = ""; description = "Shell commands executed after the service's main process has exited."; };
      restartIfChanged = mkOption { type = types.bool; default = true; description = "Whether the service should be restarted during a switch if its definition has changed."; };
      reloadIfChanged = mkOption { type = types.bool; default = false; description = "Whether the service should be reloaded during a switch if its definition has changed."; };
      stopIfChanged = mkOption { type = types.bool; default = true; description = "If false, a changed service is restarted rather than stopped and started."; };
      notSocketActivated = mkOption { type = types.bool; default = false; description = "If true, a socket-activated service is restarted instead of its sockets."; };
      startAt = mkOption {
        type = types.either types.str (types.listOf types.str);
        default = [ ];
        example = "Sun 14:00:00";
        apply = lib.toList;
        description = "Automatically start this unit at the given date/time (a timer with OnCalendar).";
      };
      enableStrictShellChecks = mkOption { type = types.bool; default = false; description = "Accepted for NixOS compatibility."; };
    };
  };

  unitType = extra: types.attrsOf (types.submodule ([ commonOptions ] ++ extra));
  sectionOpt = section: {
    options."${section}Config" = mkOption {
      default = { };
      type = unitSection;
      description = "Each attribute in this set specifies an option in the ${section} section of the unit file.";
    };
  };
  socketOptions = {
    imports = [ (sectionOpt "socket") ];
    options = {
      listenStreams = mkOption { type = types.listOf types.str; default = [ ]; description = "For each item, a ListenStream= line."; };
      listenDatagrams = mkOption { type = types.listOf types.str; default = [ ]; description = "For each item, a ListenDatagram= line."; };
    };
  };

  unitSets = {
    services = mkOption { default = { }; type = unitType [ serviceOptions ]; description = "Definition of systemd service units."; };
    timers = mkOption { default = { }; type = unitType [ (sectionOpt "timer") ]; description = "Definition of systemd timer units."; };
    sockets = mkOption { default = { }; type = unitType [ socketOptions ]; description = "Definition of systemd socket units."; };
    paths = mkOption { default = { }; type = unitType [ (sectionOpt "path") ]; description = "Definition of systemd path units."; };
    targets = mkOption { default = { }; type = unitType [ ]; description = "Definition of systemd target units."; };
    slices = mkOption { default = { }; type = unitType [ (sectionOpt "slice") ]; description = "Definition of systemd slice units."; };
  };
in
{
  options.systemd = unitSets // {
    user = unitSets;
    tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "d /tmp 1777 root root 10d" ];
      description = "Rules for creating, deleting and cleaning files (tmpfiles.d(5)).";
    };
    globalEnvironment = mkOption {
      type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
      default = { };
      description = "Environment variables passed to all systemd units.";
    };
    packages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Packages providing systemd units (on Debian: installed; their units come from /lib/systemd).";
    };
    enableStrictShellChecks = mkOption { type = types.bool; default = false; description = "Accepted for NixOS compatibility."; };
  };

  config.environment.systemPackages = config.systemd.packages;
}
