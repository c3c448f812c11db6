''
no
indent
''
