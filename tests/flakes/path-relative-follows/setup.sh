mkdir -p dep root/sub
echo '{ outputs = { self }: { x = 1; }; }' > dep/flake.nix
cat > root/sub/flake.nix <<EOT
{ inputs.dep.url = "path:$WORK/dep"; outputs = { self, dep }: { y = dep.x + 10; }; }
EOT
cat > root/flake.nix <<EOT
{
  description = "relative path input with follows";
  inputs.dep.url = "path:$WORK/dep";
  inputs.sub.url = "path:./sub";
  inputs.sub.inputs.dep.follows = "dep";
  outputs = { self, dep, sub }: { z = sub.y + dep.x; same = sub.inputs.dep.outPath == dep.outPath; };
}
EOT
find . -exec touch -h -d @1600000000 {} +
touch -d @1650000000 dep/flake.nix
