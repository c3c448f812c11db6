# A taste of what ox evaluates: hosts discovered from a directory-like
# attrset, roles expanded into read-only booleans, per-host summaries.
let
  roles = [ "desktop" "laptop" "server" "games" "vr" "nas" ];
  hosts = {
    brunnen = { roles = [ "server" ]; };
    itw = { roles = [ "desktop" "games" "vr" ]; video = "nvidia"; };
    schere = { roles = [ "server" ]; dns = "primary"; };
    stein = { roles = [ "server" ]; dns = "secondary"; };
    lappi = { roles = [ "laptop" ]; };
  };
  mkHost = name: cfg:
    let
      role = builtins.listToAttrs (map (r: { name = r; value = builtins.elem r cfg.roles; }) roles);
      enduser = role.desktop || role.laptop;
    in {
      hostName = name;
      inherit role;
      features = builtins.filter (f: f != null) [
        (if enduser then "hyprland" else null)
        (if role.laptop then "bluetooth" else null)
        (if role.games then "steam" else null)
        (if (cfg.video or null) == "nvidia" then "nvidia-wayland-env" else null)
        (if cfg ? dns then "powerdns-${cfg.dns}" else null)
        "ssh"
      ];
    };
in
builtins.mapAttrs mkHost hosts
