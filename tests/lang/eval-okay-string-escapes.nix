[ "a\nb" "tab\there" "cr\r" "quote\"" "back\\slash" "dollar\${x}" "\$" "\q\z" "x$" "$$" "a$b" ]
