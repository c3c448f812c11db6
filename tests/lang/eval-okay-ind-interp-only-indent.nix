let x = "I"; in ''
  ${x} a
    b
''
