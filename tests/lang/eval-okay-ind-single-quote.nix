''
  it's
  ' alone
''
