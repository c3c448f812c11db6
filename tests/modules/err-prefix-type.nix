let
  lib = import <ox/lib>;
in (lib.evalModules {
  prefix = [ "hosts" "lappi" ];
  modules = [
    { options.networking.hostName = lib.mkOption { type = lib.types.strMatching "[a-z]+"; }; }
    { networking.hostName = "Lappi_1"; }
  ];
}).config.networking.hostName
