baseNameOf (toString ./data)
