# builtins.fetchTarball / fetchGit / fetchTree inside a flake: pinned
# calls work (fetchTarball's path is Nix's `<narHash path>-source`);
# unpinned ones fail in pure evaluation.
mkdir -p t/top repo root
echo hello > t/top/greeting
tar -C t -czf t.tar.gz top
cd repo && git init -q -b main && echo v1 > version && git add . && git commit -qm one && cd ..
REV=$(git -C repo rev-parse HEAD)
SHA=$(nix-hash --type sha256 --base32 t/top 2>/dev/null || echo "0000000000000000000000000000000000000000000000000000")
cat > root/flake.nix <<EOT
{
  outputs = { self }: {
    tarball = builtins.readFile (builtins.fetchTarball { url = "file://$WORK/t.tar.gz"; sha256 = "$SHA"; } + "/greeting");
    git = builtins.readFile ((builtins.fetchGit { url = "$WORK/repo"; rev = "$REV"; }) + "/version");
    gitCount = (builtins.fetchGit { url = "$WORK/repo"; rev = "$REV"; }).revCount;
    tree = builtins.readFile ((builtins.fetchTree { type = "git"; url = "file://$WORK/repo"; rev = "$REV"; }) + "/version");
    unpinned = builtins.fetchTarball "file://$WORK/t.tar.gz";
  };
}
EOT
