# imported via its directory
let lib = import ./lib.nix; in { value = lib.double 21; name = "imp"; }
