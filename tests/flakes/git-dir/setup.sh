# A flake in a subdirectory of a repository (?dir=), and the same
# repository named by an absolute path into that subdirectory.
mkdir mono && cd mono && git init -q -b main
mkdir -p tools/sub
echo '{ outputs = { self }: { where = "sub"; }; }' > tools/sub/flake.nix
echo 'shared' > tools/shared.txt
git add . && GIT_COMMITTER_DATE=2024-05-06T07:08:09Z git commit -qm one
cd .. && mkdir root
cat > root/flake.nix <<EOT
{
  inputs.sub.url = "git+file://$WORK/mono?dir=tools/sub";
  outputs = { self, sub }: {
    where = sub.where;
    shared = builtins.readFile (sub.outPath + "/tools/shared.txt");
  };
}
EOT
# Not an oracle case: Nix 2.8 also leaves ?dir= inside the url (url "file:///…/mono?dir=tools%2fsub"); ox writes the url without it, as later Nix does.
