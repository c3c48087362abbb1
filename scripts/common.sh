# shellcheck shell=bash
# Common settings for fakegpu's build scripts. Source it; do not run it.
set -euo pipefail

FAKEGPU_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FAKEGPU_CACHE=${FAKEGPU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fakegpu}
mkdir -p "$FAKEGPU_CACHE"

# The Debian mirror the trixie build root and the kernel source come from.
FAKEGPU_MIRROR=${FAKEGPU_MIRROR:-http://deb.debian.org/debian}
FAKEGPU_SUITE=trixie

# Packages of the build root. Changing this list rebuilds the root.
FAKEGPU_ROOT_PKGS="gcc make flex bison bc libelf-dev libssl-dev rustc rust-src bindgen libclang-dev clang lld llvm cpio busybox-static xz-utils ca-certificates kmod python3 perl"

# Kernel source package and version.
FAKEGPU_KPKG=${FAKEGPU_KPKG:-linux-source-7.3}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

hash_of() { printf '%s' "$*" | sha256sum | cut -c1-16; }

# Path of the build root for the current package list.
root_dir() { echo "$FAKEGPU_CACHE/root-$(hash_of "$FAKEGPU_SUITE $FAKEGPU_ROOT_PKGS")"; }

# Run a command inside the build root, with /dev, /proc, /sys and the
# project and cache directories bind-mounted at the same paths as outside.
in_root() {
    local root; root=$(root_dir)
    [ -f "$root/.fakegpu-ready" ] || die "build root missing: run scripts/bootstrap-toolchain"
    unshare --mount --propagation private -- bash -c '
        set -e
        root=$1; shift; proj=$1; shift; cache=$1; shift
        for d in dev proc sys; do mount --rbind "/$d" "$root/$d"; done
        mkdir -p "$root$proj" "$root$cache"
        mount --bind "$proj" "$root$proj"
        mount --bind "$cache" "$root$cache"
        exec chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 "$@"
    ' fakegpu-root "$root" "$FAKEGPU_ROOT" "$FAKEGPU_CACHE" "$@"
}
