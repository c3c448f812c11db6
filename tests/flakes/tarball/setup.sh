mkdir -p t/top/d root
echo '{ outputs = { self }: { fromTarball = 7; }; }' > t/top/flake.nix
echo x > t/top/d/x
printf '#!/bin/sh\necho hi\n' > t/top/d/run && chmod +x t/top/d/run
ln -s d/x t/top/link
tar -C t -czf t.tar.gz top
tar -C t -cf plain.tar top
mkdir -p nf && echo 'not a flake' > nf/README && touch -d @1600000000 nf nf/README
cat > root/flake.nix <<EOT
{
  inputs.t.url = "file://$WORK/t.tar.gz";
  inputs.t2 = { type = "tarball"; url = "file://$WORK/plain.tar"; };
  inputs.src = { url = "path:$WORK/nf"; flake = false; };
  outputs = { self, t, t2, src }: {
    v = t.fromTarball;
    same = t.narHash == t2.narHash;
    readme = builtins.readFile (src + "/README");
    exec = builtins.readFile (t + "/link");
  };
}
EOT
