# The flake is a subdirectory of a git repository: only tracked files
# (committed or staged) are copied; untracked ones are invisible.
mkdir -p repo/flk && cd repo && git init -q -b main
echo '{ outputs = { self }: { t = builtins.pathExists ./tracked; s = builtins.pathExists ./staged; u = builtins.pathExists ./untracked; above = builtins.pathExists ../outside; hasRev = self.sourceInfo ? rev; }; }' > flk/flake.nix
echo t > flk/tracked
echo o > outside
git add . && git commit -qm one
echo s > flk/staged && git add flk/staged
echo u > flk/untracked
cd .. && ln -s repo/flk root
