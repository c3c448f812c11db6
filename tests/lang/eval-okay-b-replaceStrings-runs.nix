# replaceStrings copies the text between possible matches in runs: matches
# at the start, at the end, next to each other, multi-byte characters, no
# patterns at all, and a pattern whose first byte occurs without a match.
let r = builtins.replaceStrings; in
[
  (r [ ] [ ] "unchanged text")
  (r [ "ab" ] [ "X" ] "abcabab")
  (r [ "é" "ü" ] [ "e" "u" ] "café über é")
  (r [ "<" ">" ] [ "[" "]" ] "<a><b>")
  (r [ "xyz" ] [ "!" ] "xxyxyzx")
  (r [ "end" ] [ "END" ] "the end")
]
