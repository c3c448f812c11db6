# Node keys are allocated depth-first: b, c, c_2, b_2, … as Nix does.
mkdir -p a b c c2 root
echo '{ outputs = { self }: { v = "c"; }; }' > c/flake.nix
echo '{ outputs = { self }: { v = "c2"; }; }' > c2/flake.nix
cat > b/flake.nix <<EOT
{ inputs.c.url = "path:$WORK/c"; outputs = { self, c }: { v = "b" + c.v; }; }
EOT
cat > a/flake.nix <<EOT
{ inputs.b.url = "path:$WORK/b"; inputs.c.url = "path:$WORK/c2"; outputs = { self, b, c }: { v = "a" + b.v + c.v; }; }
EOT
cat > root/flake.nix <<EOT
{
  inputs.a.url = "path:$WORK/a";
  inputs.b.url = "path:$WORK/b";
  inputs.c.url = "path:$WORK/c";
  inputs.bb.follows = "a/b";
  outputs = { self, a, b, c, bb }: { v = a.v + b.v + c.v + bb.v; };
}
EOT
find . -exec touch -h -d @1600000000 {} +
