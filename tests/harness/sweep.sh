#!/usr/bin/env bash
# Remove test hosts (crates/ox-testhost) whose test process is gone:
# stop their systemd-nspawn, unmount their overlay, remove their cgroup
# directories and scratch space. .ci/run calls it on exit; safe to run
# any time (hosts of live test processes are left alone).
set -u
run=/var/tmp/ox-testhost
[ -d "$run" ] || exit 0
for d in "$run"/*/; do
  d=${d%/}; name=${d##*/}
  owner=${name%-*}; owner=${owner##*-}
  [ -n "$owner" ] && [ -d "/proc/$owner" ] && continue
  if [ -f "$d/nspawn.pid" ]; then
    p=$(cat "$d/nspawn.pid")
    if [ "$(cat /proc/$p/comm 2>/dev/null)" = systemd-nspawn ]; then
      kill -TERM "$p" 2>/dev/null
      for _ in $(seq 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
      kill -KILL "$p" 2>/dev/null
    fi
  fi
  mountpoint -q "$d/merged" && { umount "$d/merged" 2>/dev/null || umount -l "$d/merged"; }
  for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
    cg=$h/ox-testhost-$name
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  mountpoint -q "$d/merged" || rm -rf "$d"
done
exit 0
