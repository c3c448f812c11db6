{ lib, pkgs, greeting, name ? "unused", ... }: {
  imports = [ ../c.nix ];
  options.greeting = lib.mkOption { type = lib.types.str; default = "${greeting}, ${pkgs.hello}"; };
}
