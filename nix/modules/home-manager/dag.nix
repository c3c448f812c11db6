# home-manager's `lib.hm.dag`: entries `{ data; after; before; }` and
# topoSort (written for ox after home-manager's documented behaviour).
{ lib }:
rec {
  empty = { };

  isEntry = e: e ? data && e ? after && e ? before;

  entryBetween = before: after: data: { inherit data before after; };
  entryAnywhere = entryBetween [ ] [ ];
  entryAfter = entryBetween [ ];
  entryBefore = before: entryBetween before [ ];

  # a list of entries named <tag>-0, <tag>-1, … chained in order
  entriesBetween = tag:
    let
      go = i: before: after: entries:
        let name = "${tag}-${toString i}"; in
        if entries == [ ] then { }
        else if lib.length entries == 1 then { "${name}" = entryBetween before after (lib.head entries); }
        else { "${name}" = entryAfter after (lib.head entries); }
          // go (i + 1) before [ name ] (lib.tail entries);
    in go 0;
  entriesAnywhere = tag: entriesBetween tag [ ] [ ];
  entriesAfter = tag: entriesBetween tag [ ];
  entriesBefore = tag: before: entriesBetween tag before [ ];

  map = f: lib.mapAttrs (n: e: e // { data = f n e.data; });

  topoSort = dag:
    let
      dagBefore = name: lib.attrNames (lib.filterAttrs (_: e: lib.elem name e.before) dag);
      normalized = lib.mapAttrsToList (n: e: { name = n; inherit (e) data; after = e.after ++ dagBefore n; }) dag;
      sorted = lib.toposort (a: b: lib.elem a.name b.after) normalized;
    in
    if sorted ? result
    then { result = builtins.map (e: { inherit (e) name data; }) sorted.result; }
    else sorted;
}
