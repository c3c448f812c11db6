# Hosts for crates/ox/tests/hosts.rs whose Debian packages come from a
# lock (nixpkgs.debianLock): the example fleet's committed ox.lock, and
# the same lock with another git version.
let
  lock = builtins.fromJSON (builtins.readFile ../../../examples/homelab/ox.lock);
  bumped = lock // {
    packages = lock.packages // {
      git = lock.packages.git // { version = "1:2.39.5-0+deb12u99"; };
    };
  };
  host = debianLock: import <ox/modules/eval-host.nix> {
    modules = [
      ({ pkgs, ... }: {
        networking.hostName = "locked";
        system.stateVersion = "25.05";
        nixpkgs.debianLock = debianLock;
        environment.systemPackages = [ pkgs.git "curl" pkgs.htop ];
        systemd.services.mirror = {
          wantedBy = [ "multi-user.target" ];
          serviceConfig.ExecStart = "${pkgs.git}/bin/git daemon --base-path=/srv/git";
        };
      })
    ];
  };
in
{
  locked = host lock;
  bumped = host bumped;
  # the lock as a path, as lib.oxSystem sets it
  byPath = host ../../../examples/homelab/ox.lock;
}
