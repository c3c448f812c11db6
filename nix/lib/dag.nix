# lib.hm.dag: home-manager's directed acyclic graph entries.
{ lib }:
rec {
  empty = { };
  isEntry = e: e ? data && e ? after && e ? before;
  isDag = dag: builtins.isAttrs dag && lib.all isEntry (builtins.attrValues dag);
  entryBetween = before: after: data: { inherit data before after; };
  entryAnywhere = entryBetween [ ] [ ];
  entryAfter = entryBetween [ ];
  entryBefore = before: entryBetween before [ ];
  entriesBetween = tag:
    let
      go = i: before: after: entries:
        let name = "${tag}-${toString i}"; in
        if entries == [ ] then empty
        else if builtins.length entries == 1 then { "${name}" = entryBetween before after (builtins.head entries); }
        else { "${name}" = entryAfter after (builtins.head entries); } // go (i + 1) before [ name ] (builtins.tail entries);
    in go 0;
  entriesAnywhere = tag: entriesBetween tag [ ] [ ];
  entriesAfter = tag: entriesBetween tag [ ];
  entriesBefore = tag: before: entriesBetween tag before [ ];
  topoSort = dag:
    let
      dagBefore = dag: name: builtins.attrNames (lib.filterAttrs (n: v: builtins.elem name v.before) dag);
      normalizedDag = builtins.mapAttrs (n: v: { name = n; data = v.data; after = v.after ++ dagBefore dag n; }) dag;
      before = a: b: builtins.elem a.name b.after;
      sorted = lib.toposort before (builtins.attrValues normalizedDag);
    in if sorted ? result then { result = builtins.map (v: { inherit (v) name data; }) sorted.result; } else sorted;
  mapEntries = f: builtins.mapAttrs (n: v: v // { data = f n v.data; });
}
