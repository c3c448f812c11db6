# `with config;` around the module: `x` may come from `config`.
{ config, lib, ... }:
with config; {
  options.w.fromWith = lib.mkOption { type = lib.types.str; default = host; };
  options.w.plain = lib.mkOption { type = lib.types.str; default = "plain"; };
}
