# A single file as an input (`file+file://`, or a non-archive file://
# URL): its narHash is the NAR of the file; outPath is the file itself.
mkdir root
printf 'key = value\n' > settings.conf
cat > root/flake.nix <<EOT
{
  inputs.conf = { url = "file+file://$WORK/settings.conf"; flake = false; };
  inputs.conf2 = { url = "file://$WORK/settings.conf"; flake = false; };
  outputs = { self, conf, conf2 }: {
    text = builtins.readFile conf.outPath;
    same = conf.narHash == conf2.narHash;
  };
}
EOT
