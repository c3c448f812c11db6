[ http://example.org/foo?a=b&c=d https://x.y/z ftp://host/path mailto:me@example.org ]
