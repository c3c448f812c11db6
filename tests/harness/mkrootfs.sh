#!/usr/bin/env bash
# Build (once) the Debian bookworm base rootfs that ox's container tests
# boot, cached as a zstd tarball. Usage: mkrootfs.sh OUT.tar.zst
# Idempotent and safe to call from parallel tests: an flock serialises
# builders and a finished tarball is only ever renamed into place.
set -euo pipefail
out=${1:?usage: mkrootfs.sh OUT.tar.zst}
suite=${OX_TEST_SUITE:-bookworm}
mirror=${OX_TEST_MIRROR:-$(awk '/^URIs:/{print $2; exit} /^deb /{print $2; exit}' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9
[ -s "$out" ] && exit 0
work=$(mktemp -d "$(dirname "$out")/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,libpam-systemd,openssh-server,iproute2,passwd,sudo,procps \
  "$suite" "$work/root" "$mirror" >"$work/log" 2>&1 || { tail -30 "$work/log" >&2; exit 1; }
r=$work/root
# Per-instance identity is generated at container start; the base has none.
: >"$r/etc/machine-id"
rm -f "$r"/etc/ssh/ssh_host_*
# No getty on a passive console, and nothing should try to reach the net.
rm -f "$r/etc/systemd/system/getty.target.wants/"*
mkdir -p "$r/root/.ssh" && chmod 700 "$r/root/.ssh"
apt-get clean -o RootDir="$r" 2>/dev/null || rm -rf "$r/var/cache/apt/archives/"*.deb
tar --numeric-owner --xattrs -C "$r" -I 'zstd -T0 -3' -cf "$work/out.tar.zst" .
mv "$work/out.tar.zst" "$out"
