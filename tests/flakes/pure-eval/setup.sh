mkdir root
cat > root/flake.nix <<'EOT'
{
  outputs = { self }: {
    env = builtins.getEnv "HOME";
    own = builtins.readFile ./data;
    escape = builtins.readFile /etc/hostname;
  };
}
EOT
echo inside > root/data
