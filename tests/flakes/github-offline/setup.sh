mkdir root
cat > root/flake.nix <<EOT
{
  inputs.hy3.url = "github:outfoxxed/hy3/hl0.54.2";
  outputs = { self, hy3 }: { };
}
EOT
