''
	Tab
	lines
''
