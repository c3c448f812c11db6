# time.timeZone, i18n.*, console.* → /etc/timezone + /etc/localtime,
# /etc/default/locale + /etc/locale.gen, /etc/vconsole.conf.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options = {
    time.timeZone = mkOption {
      type = types.nullOr (types.addCheck types.str (s: !(lib.hasInfix " " s)));
      default = null;
      example = "America/New_York";
      description = ''
        The time zone used when displaying times and dates (a name from
        /usr/share/zoneinfo); null leaves the host's setting alone.
      '';
    };
    time.hardwareClockInLocalTime = mkOption {
      type = types.bool;
      default = false;
      description = "Accepted for NixOS compatibility.";
    };

    i18n = {
      defaultLocale = mkOption {
        type = types.str;
        default = "en_US.UTF-8";
        example = "nl_NL.UTF-8";
        description = "The default locale (LANG).";
      };
      extraLocaleSettings = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = { LC_MESSAGES = "en_US.UTF-8"; LC_TIME = "de_DE.UTF-8"; };
        description = "Additional LC_* variables for /etc/default/locale.";
      };
      supportedLocales = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "en_US.UTF-8/UTF-8" "nl_NL.UTF-8/UTF-8" ];
        description = ''
          Locales to generate (`NAME/CHARSET` as in NixOS). Empty: the
          default locale and the extraLocaleSettings ones.
        '';
      };
    };

    console = {
      keyMap = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "de";
        description = "The keyboard mapping table for the virtual consoles.";
      };
      font = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The font used for the virtual consoles.";
      };
    };
  };
}
