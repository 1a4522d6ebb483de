#!/bin/sh
# Install the Debian packages a make target needs, and nothing else: apt-get only for what is missing,
# only when run as root. Idempotent. Usage: scripts/deps.sh build|test|demo|bench
set -eu
need="gcc make libsleef-dev"
case "${1:-build}" in
    build) ;;
    test)  need="$need libcriterion-dev gcc-aarch64-linux-gnu qemu-user libsleef-dev:arm64" ;;
    demo)  need="$need dataset-fashion-mnist python3-numpy python3-matplotlib" ;;
    bench) need="$need libopenblas-dev liblapacke-dev" ;;
    *) echo "deps.sh: unknown target '$1'" >&2; exit 2 ;;
esac
missing=""
for p in $need; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in *" installed") ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "entk: missing Debian packages:$missing (run as root or: sudo apt-get install$missing)" >&2
    exit 1
fi
case "$missing" in
    *:arm64*) dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64 ;;
esac
echo "entk: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
