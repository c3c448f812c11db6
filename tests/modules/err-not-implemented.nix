let lib = import <ox/lib>; in lib.systems
