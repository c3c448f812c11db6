let mk = n: rec { val = n; next = mk (val + 1); }; in (mk 0).next.next.next.val
