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

# Where the kernel toolchain comes from: "root" (default: the Debian 13
# build root in the cache) or "host" (a host that already has rustc >= 1.85
# with rust-src, bindgen >= 0.71.1, clang/libclang >= 17, lld, llvm, cpio
# and a static busybox; scripts/bootstrap-toolchain checks them).
FAKEGPU_TOOLCHAIN=${FAKEGPU_TOOLCHAIN:-root}
case "$FAKEGPU_TOOLCHAIN" in root|host) ;; *) echo "FAKEGPU_TOOLCHAIN must be root or host" >&2; exit 2 ;; esac

# What identifies the toolchain in cache keys (the package list for the
# build root, the tool versions for the host).
toolchain_id() {
    if [ "$FAKEGPU_TOOLCHAIN" = host ]; then
        echo "host $(rustc --version) $(bindgen --version 2>&1) $(clang --version | head -1)"
    else
        echo "$FAKEGPU_ROOT_PKGS"
    fi
}

# The static busybox that goes into the guest image.
busybox_path() {
    if [ "$FAKEGPU_TOOLCHAIN" = host ]; then command -v busybox; else echo "$(root_dir)/usr/bin/busybox"; fi
}

# Path of the build root for the current package list.
root_dir() { echo "$FAKEGPU_CACHE/root-$(hash_of "$FAKEGPU_SUITE $FAKEGPU_ROOT_PKGS")"; }

# Run a command inside the build root, with /dev, /proc, /sys and the
# project and cache directories bind-mounted at the same paths as outside.
in_root() {
    if [ "$FAKEGPU_TOOLCHAIN" = host ]; then
        "$@"
        return
    fi
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
