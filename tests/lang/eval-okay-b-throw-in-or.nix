({ }).a or "default"
