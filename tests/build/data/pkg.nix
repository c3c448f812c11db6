{ writeTextDir }: writeTextDir "share/pkg" "a package from a file\n"
