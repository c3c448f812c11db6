# genList of the identity: elements stay unevaluated (<CODE>) until
# forced, whether the function is a literal, a variable or an inner lambda.
let
  id = i: i;
  k = a: b: b;
  xs = builtins.genList (i: i) 4;
  ys = builtins.genList id 3;
  zs = builtins.genList (k 7) 3;
in
builtins.seq (builtins.elemAt xs 2) (
  builtins.seq (builtins.elemAt ys 0) (
    builtins.seq (builtins.elemAt zs 1) [
      xs
      ys
      zs
      (builtins.genList (i: i) 2)
      (builtins.elemAt xs 3 + builtins.elemAt ys 2)
    ]
  )
)
