baseNameOf ../lang
