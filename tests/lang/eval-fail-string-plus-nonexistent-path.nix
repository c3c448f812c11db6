"" + /nonexistent/ox/test/path
