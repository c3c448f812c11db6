# ox's package set: `import <ox/pkgs> { overlays = [ … ]; }`.
#
# The set is a fixpoint: every overlay (`final: prev: { … }`) sees the
# final result, so replacing a package in an overlay changes it for
# everything that reads `pkgs.<name>`, as with nixpkgs overlays.
{
  overlays ? [ ],
  system ? "x86_64-linux",
  config ? { },
  # The Debian package lock (a path to ox.lock, or its parsed contents):
  # every package in it is `pkgs.<name>`.
  debianLock ? null,
}:
let
  extends =
    overlay: f: final:
    let
      prev = f final;
    in
    prev // overlay final prev;

  debianPackages =
    if debianLock == null then
      { }
    else
      import ./debian.nix {
        lock =
          if builtins.isAttrs debianLock then debianLock else builtins.fromJSON (builtins.readFile debianLock);
      };

  base =
    final:
    debianPackages
    // {
      inherit system config;
      pkgs = final;
      # nixpkgs-compatible lib from the module-system side of the tree;
      # only read when something uses it.
      lib = import ../lib;

      # The shell the generated scripts run with: the host's, part of the
      # impure toolchain every ox host has.
      runtimeShell = "/bin/bash";

      # `callPackage f args`: call `f` (a function or a file) with the
      # arguments it asks for taken from the package set, overridden by
      # `args`. The result can be re-called with `.override`.
      callPackage =
        fn: args:
        let
          f = if builtins.isFunction fn then fn else import fn;
          auto = builtins.intersectAttrs (builtins.functionArgs f) final;
          result = f (auto // args);
        in
        if builtins.isAttrs result then
          result // { override = newArgs: final.callPackage fn (args // newArgs); }
        else
          result;

      formats = import ./formats.nix { pkgs = final; };
    }
    // import ./trivial-builders.nix { pkgs = final; };

  fix =
    f:
    let
      x = f x;
    in
    x;
in
fix (builtins.foldl' (f: overlay: extends overlay f) base overlays)
