map builtins.stringLength [ "\n" "\t" "\r" "\\" "\"" "\${" "$${" "\x" ]
