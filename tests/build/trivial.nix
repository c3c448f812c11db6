# The file writers of nix/pkgs/trivial-builders.nix.
let
  pkgs = import <ox/pkgs> { };
in
{
  text = pkgs.writeText "hello.txt" "hello, world\n";
  textDir = pkgs.writeTextDir "share/doc/readme" "read me\n";
  script = pkgs.writeScript "s" "#!/bin/sh\necho s\n";
  scriptBin = pkgs.writeScriptBin "sb" "#!/bin/sh\necho sb\n";
  shell = pkgs.writeShellScript "sh" "echo shell";
  shellBin = pkgs.writeShellScriptBin "shb" "echo shell bin";
  file = pkgs.writeTextFile {
    name = "conf";
    text = "key = value\n";
    executable = true;
    destination = "/etc/app/conf";
  };
  refers = pkgs.writeText "refers" "the text is at ${pkgs.writeText "hello.txt" "hello, world\n"}\n";
}
