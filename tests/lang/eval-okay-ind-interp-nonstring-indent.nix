let n = "1"; in ''
      deeper
    ${n}
''
