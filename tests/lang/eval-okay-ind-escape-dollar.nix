''
  ''${notinterp}
  $x $$ ''$
''
