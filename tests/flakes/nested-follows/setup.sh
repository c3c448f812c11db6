# root → a → b → c, and root makes a's b's c follow its own c (three
# levels deep); a also makes b's d follow a's own d.
mkdir -p a b c c-root d root
echo '{ outputs = { self }: { v = "c"; }; }' > c/flake.nix
echo '{ outputs = { self }: { v = "C"; }; }' > c-root/flake.nix
echo '{ outputs = { self }: { v = "d"; }; }' > d/flake.nix
cat > b/flake.nix <<EOT
{ inputs.c.url = "path:$WORK/c"; inputs.d.url = "path:$WORK/d"; outputs = { self, c, d }: { v = "b" + c.v + d.v; }; }
EOT
cat > a/flake.nix <<EOT
{
  inputs.b.url = "path:$WORK/b";
  inputs.d.url = "path:$WORK/d";
  inputs.b.inputs.d.follows = "d";
  outputs = { self, b, d }: { v = "a" + b.v; };
}
EOT
cat > root/flake.nix <<EOT
{
  inputs.a.url = "path:$WORK/a";
  inputs.c.url = "path:$WORK/c-root";
  inputs.a.inputs.b.inputs.c.follows = "c";
  outputs = { self, a, c }: {
    v = a.v;
    shared = a.inputs.b.inputs.c.outPath == c.outPath;
    sharedD = a.inputs.b.inputs.d.outPath == a.inputs.d.outPath;
  };
}
EOT
find . -exec touch -h -d @1600000000 {} +
