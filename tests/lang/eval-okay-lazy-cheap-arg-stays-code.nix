# An integer-expression argument stays a thunk when the function does not
# force it (printed as <CODE> without --strict), and is a value when it does.
let
  keep = x: [ x ];
  used = x: if x < 0 then [ ] else [ x x ];
  n = 5;
in
keep (n - 1) ++ used (n - 1) ++ (a: b: [ a b ]) (n + 1) (n - 1)
