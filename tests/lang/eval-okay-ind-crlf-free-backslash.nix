''
  C:\path\n
''
