# A small stand-in for ox's nix/ tree (the harness passes $WORK/oxnix as
# the ox input): the lock must pin it by version and narHash, and both the
# declared and the implicit form must resolve to it.
mkdir -p oxnix/lib oxnix/pkgs oxnix/modules dep root
echo '{ greeting = "hello from ox lib"; }' > oxnix/lib/default.nix
echo '{ system ? "x86_64-linux" }: { inherit system; hello = "pkg"; }' > oxnix/pkgs/default.nix
echo '{ ... }: { }' > oxnix/modules/ssh.nix
echo '{ outputs = { self, ox }: { g = ox.lib.greeting; }; }' > dep/flake.nix
cat > root/flake.nix <<EOT
{
  inputs.ox.url = "ox";
  inputs.dep.url = "path:$WORK/dep";
  inputs.dep.inputs.ox.follows = "ox";
  outputs = { self, ox, dep }: {
    g = dep.g;
    sys = ox.legacyPackages.aarch64-linux.system;
    pkg = ox.pkgs.hello;
    mods = builtins.attrNames ox.nixosModules;
    hasSystem = builtins.isFunction ox.lib.oxSystem;
    notYet = (builtins.tryEval (ox.lib.oxSystem { modules = [ ]; })).success;
    version = ox.version;
  };
}
EOT
find . -exec touch -h -d @1600000000 {} +
