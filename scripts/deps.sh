#!/bin/sh
# Install the Debian packages a make target needs, and nothing else: apt-get only for what is missing,
# only when run as root. Idempotent. Usage: scripts/deps.sh build|test|demo|bench|fuzz [nosleef]
#
# Packages are named one by one, never through Recommends (apt-get runs with --no-install-recommends,
# as on a minimal Debian): e.g. gcc-aarch64-linux-gnu only *recommends* the arm64 C library headers,
# so libc6-dev-arm64-cross is listed explicitly.
#
# Without dpkg (another distribution, or a hand-built toolchain) nothing is installed: the script says
# which Debian packages it would want, and goes on; the build then fails only if a library is really
# absent. With a second argument `nosleef`, SLEEF is not required (make NO_SLEEF=1).
set -eu
target=${1:-build}
sleef="libsleef-dev"; sleef_arm64="libsleef-dev:arm64"
[ "${2:-}" = nosleef ] && { sleef=""; sleef_arm64=""; }
need="gcc libc6-dev make $sleef"
case "$target" in
    build) ;;
    test)  need="$need python3-numpy libcriterion-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
           need="$need $sleef_arm64 clang libclang-rt-14-dev"
           need="$need openmpi-bin libopenmpi-dev libscalapack-openmpi-dev"
           need="$need cmake pkg-config" ;; # tests/test_install.c: an outside program built both ways
    fuzz)  need="$need clang libclang-rt-14-dev" ;;
    demo)  need="$need dataset-fashion-mnist python3-numpy python3-matplotlib" ;;
    bench) need="$need libopenblas-dev liblapacke-dev" ;;
    *) echo "deps.sh: unknown target '$target'" >&2; exit 2 ;;
esac
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "entk: no dpkg here, nothing installed; '$target' wants the equivalents of the Debian packages: $need" >&2
    exit 0
fi
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
