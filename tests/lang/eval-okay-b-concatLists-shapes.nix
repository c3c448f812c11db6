# concatLists over no lists, empty lists, one non-empty list among empty
# ones (ox hands back that list itself), and several; elements stay lazy.
with builtins; let l = [ 1 (throw "lazy") 3 ]; in [
  (concatLists [ ])
  (concatLists [ [ ] [ ] ])
  (concatLists [ [ ] [ 1 2 ] [ ] ])
  (length (concatLists [ l ]))
  (elemAt (concatLists [ [ ] l ]) 2)
  (concatLists [ [ 1 ] [ ] [ 2 3 ] [ [ 4 ] ] ])
]
