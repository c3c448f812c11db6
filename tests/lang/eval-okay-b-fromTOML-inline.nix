builtins.fromTOML ''
  a = 1
  [b]
  c = "x"
  d.e = [ true, false ]
''
