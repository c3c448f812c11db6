({}: "called") {}
