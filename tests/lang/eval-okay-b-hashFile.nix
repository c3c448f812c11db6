with builtins; map (t: hashFile t ./data/hello.txt) [ "md5" "sha1" "sha256" "sha512" ]
