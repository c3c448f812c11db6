let lib = import <ox/lib>; inherit (lib.hm) dag; in {
  sorted = dag.topoSort {
    c = dag.entryAfter [ "b" ] "C";
    a = dag.entryAnywhere "A";
    b = dag.entryBetween [ "d" ] [ "a" ] "B";
    d = dag.entryBefore [ ] "D";
  };
  cycle = (dag.topoSort { x = dag.entryAfter [ "y" ] 1; y = dag.entryAfter [ "x" ] 2; }) ? cycle;
  isEntry = dag.isEntry (dag.entryAnywhere 1);
}
