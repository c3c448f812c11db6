let x = "I"; in ''
    ${x}
  two
''
