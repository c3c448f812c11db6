with builtins; [ (attrNames {}) (attrValues {}) (removeAttrs {} []) (intersectAttrs {} { a = 1; }) ]
