# Debian packages pinned in the lock (`ox pkgs add NAME` writes it):
# each entry becomes a derivation whose output links bin/, lib/, share/,
# … to the package's files on the host, so "${pkgs.git}/bin/git" is
# /usr/bin/git of exactly the locked version (activation installs it).
# The entry is in the derivation, so a version bump changes the path.
{ lock }:
let
  # Store path names may not contain ':' or '~' (epochs, tildes).
  clean = builtins.replaceStrings [ ":" "~" ] [ "_" "_" ];
  package =
    name: e:
    derivation {
      name = "${name}-${clean e.version}";
      system = "builtin";
      builder = "builtin:ox-debian-package";
      package = name;
      inherit (e) version;
      debSha256 = e.sha256;
      files = builtins.toJSON e.files;
    }
    // {
      pname = name;
      inherit (e) version;
      debian = {
        inherit name;
        inherit (e) version sha256;
      };
    };
in
builtins.mapAttrs package lock.packages
