# `lib.hm` for home-manager modules: the DAG helpers and `hm.types.dagOf`.
{ lib }:
let
  dag = import ./dag.nix { inherit lib; };
  inherit (lib) mkOption types;
in
{
  inherit dag;
  types = {
    dagOf = elemType:
      let
        entry = types.submodule {
          options = {
            data = mkOption { type = elemType; description = "The entry's value."; };
            after = mkOption { type = types.listOf types.str; default = [ ]; description = "Entries this one comes after."; };
            before = mkOption { type = types.listOf types.str; default = [ ]; description = "Entries this one comes before."; };
          };
        };
        # a plain value is an entry that may go anywhere
        coerce = v: if builtins.isAttrs v && dag.isEntry v then v else dag.entryAnywhere v;
      in
      types.attrsOf (types.coercedTo types.unspecified coerce entry) // {
        description = "DAG of ${elemType.description}";
      };
  };
  strings.storeFileName = name: lib.replaceStrings [ " " ] [ "_" ] name;
}
