''  keep leading spaces
  second''
