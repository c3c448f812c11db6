map builtins.parseDrvName [ "nix-2.8.0" "hello" "foo-bar-1.0-rc1" "a-b" "x-1y" "gcc-wrapper-11.3.0" ]
