# builtins.readFileType path (Nix >= 2.14): "Determine the directory entry type of a
# filesystem node, being one of \"directory\", \"regular\", \"symlink\", or \"unknown\"."
# Uses the data files of ../lang. Symlinks are not followed.
map builtins.readFileType [ ../lang/data/hello.txt ../lang/data/dir ../lang/data/dir/link ]
