# Process builders: runCommand in the sandbox, and a raw derivation with
# two outputs referring to each other and to an input.
let
  pkgs = import <ox/pkgs> { };
  input = pkgs.writeText "input" "input text\n";
in
{
  run = pkgs.runCommand "run" { nativeBuildInputs = [ (pkgs.writeShellScriptBin "helper" "echo helped") ]; } ''
    mkdir -p $out/share
    cp ${input} $out/share/copy
    helper > $out/share/helper
    echo "home=$HOME top=$NIX_BUILD_TOP tmp=$TMPDIR pwd=$(pwd) user=$(id -un) host=$(hostname)" > $out/share/env
    ls ${input}.none 2>/dev/null || echo "no sibling" >> $out/share/env
  '';
  multi = derivation {
    name = "multi";
    system = "x86_64-linux";
    builder = "/bin/sh";
    outputs = [ "out" "dev" ];
    __impureHostDeps = [ "/usr" "/bin" "/lib" "/lib64" ];
    PATH = "/usr/bin:/bin";
    args = [ "-c" "mkdir $out $dev; echo $dev > $out/dev-is; echo $out > $dev/out-is; cat ${input} > $dev/input" ];
  };
}
