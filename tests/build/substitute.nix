# replaceVars / replaceVarsWith / substituteAll with the in-process substituter.
let
  pkgs = import <ox/pkgs> { };
  who = pkgs.writeText "who" "me";
in
{
  replaced = pkgs.replaceVars ./data/greet.sh.in {
    greeting = "hello";
    name = who;
  };
  kept = pkgs.replaceVars (builtins.toFile "k.txt" "@a@ and @b@\n") {
    a = "A";
    b = null;
  };
  with_ = pkgs.replaceVarsWith {
    src = ./data/greet.sh.in;
    name = "greet";
    isExecutable = true;
    dir = "bin";
    replacements = { greeting = "hi"; name = "ox"; };
  };
  all = pkgs.substituteAll {
    src = ./data/greet.sh.in;
    greeting = "hey";
    name = "all";
    isExecutable = true;
  };
}
