mkdir -p a root
echo '{ inputs.x.url = "path:/nonexistent-but-overridden"; outputs = { self, x }: { }; }' > a/flake.nix
cat > root/flake.nix <<EOT
{
  inputs.a.url = "path:$WORK/a";
  inputs.a.inputs.x.follows = "nope";
  outputs = { self, a }: { };
}
EOT
