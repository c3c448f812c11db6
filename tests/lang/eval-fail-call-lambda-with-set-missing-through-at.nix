(args@{ a }: args.a) { }
