# pkgs.formats.<format>.generate
let
  pkgs = import <ox/pkgs> { };
  value = {
    name = "ox";
    port = 8080;
    enable = true;
    ratio = 0.5;
    tags = [ "a" "b" ];
    nested = { deep = { x = 1; }; "needs quoting" = "q\"uote"; };
    servers = [ { host = "a"; } { host = "b"; } ];
  };
in
{
  json = (pkgs.formats.json { }).generate "c.json" value;
  yaml = (pkgs.formats.yaml { }).generate "c.yaml" value;
  toml = (pkgs.formats.toml { }).generate "c.toml" value;
  ini = (pkgs.formats.ini { }).generate "c.ini" {
    main = { name = "ox"; enable = true; port = 1; };
    other = { path = pkgs.writeText "p" "p"; };
  };
  iniDup = (pkgs.formats.ini { listsAsDuplicateKeys = true; }).generate "d.ini" {
    s = { k = [ "1" "2" ]; };
  };
  keyValue = (pkgs.formats.keyValue { }).generate "kv" { A = "1"; B = true; };
  keyValueSep = (pkgs.formats.keyValue { mkKeyValue = k: v: "${k}: ${toString v}"; }).generate "kv2" { A = "1"; };
}
