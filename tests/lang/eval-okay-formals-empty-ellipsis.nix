({ ... }: "called") { x = 1; }
