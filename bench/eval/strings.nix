# String building: many small interpolations, concatenation with `+`,
# concatStringsSep, indented strings, toString of ints, replaceStrings; the result is
# only lengths and a few substrings so printing stays negligible.
# Stresses: string allocation/copying, coercions, context-free string primops.
let
  inherit (builtins) genList concatStringsSep foldl' stringLength replaceStrings substring;
  cell = r: c: "<${toString r}:${toString c}|${if (r + c) / 2 * 2 == r + c then "even" else "odd"}>";
  line = r: foldl' (acc: c: acc + cell r c) "row ${toString r}: " (genList (c: c) 40);
  block = r: ''
    begin ${toString r}
      ${line r}
    end
  '';
  text = concatStringsSep "\n" (genList block 12000);
  rewritten = replaceStrings [ "even" "odd" "<" ] [ "E" "O" "[" ] text;
in
"${toString (stringLength text)}/${toString (stringLength rewritten)}/${substring 1000000 24 rewritten}/${substring (stringLength rewritten - 20) 20 rewritten}"
