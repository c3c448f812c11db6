mkdir g && cd g && git init -q -b main
echo '{ outputs = { self }: { msg = "one"; }; }' > flake.nix
echo data > data
git add . && GIT_COMMITTER_DATE=2024-01-02T03:04:05Z git commit -qm one
git tag v1
echo '{ outputs = { self }: { msg = "two"; }; }' > flake.nix
git add . && GIT_COMMITTER_DATE=2024-02-03T04:05:06Z git commit -qm two
git checkout -q -b other && echo more > more && git add more && GIT_COMMITTER_DATE=2024-03-04T05:06:07Z git commit -qm three && git checkout -q main
echo dirty > untracked
cd ..
mkdir root
FIRST=$(git -C g rev-list --max-parents=0 HEAD)
cat > root/flake.nix <<EOT
{
  inputs.g.url = "git+file://$WORK/g";
  inputs.tag.url = "git+file://$WORK/g?ref=v1";
  inputs.branch.url = "git+file://$WORK/g?ref=other";
  inputs.pinned.url = "git+file://$WORK/g?rev=$FIRST";
  inputs.plain.url = "$WORK/g";
  outputs = { self, g, tag, branch, pinned, plain }: {
    msgs = [ g.msg tag.msg pinned.msg plain.msg ];
    counts = [ g.revCount tag.revCount branch.revCount ];
    dates = [ g.lastModifiedDate branch.lastModifiedDate ];
    hasMore = builtins.pathExists (branch + "/more");
    noGitDir = builtins.pathExists (g + "/.git");
    noUntracked = builtins.pathExists (g + "/untracked");
  };
}
EOT
