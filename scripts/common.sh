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
# Checkers added to the root without changing its key (scripts/bootstrap-toolchain).
FAKEGPU_ROOT_EXTRA="rust-clippy"
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

# content_key PATH... : a hash of the contents and names of every file
# under PATH (relative to the project root) that git tracks or would track
# (untracked files that are not ignored count, so a dirty tree gets its own
# key). Build outputs are ignored by git, so they never enter a key.
content_key() {
    (
        cd "$FAKEGPU_ROOT"
        if git rev-parse --git-dir >/dev/null 2>&1; then
            git ls-files -z -co --exclude-standard -- "$@" | sort -z | xargs -0 -r sha256sum 2>/dev/null
        else
            find "$@" -type f -not -path '*/target/*' -print0 | sort -z | xargs -0 -r sha256sum
        fi
    ) | sha256sum | cut -c1-16
}

# How each cached step fared, for the phase table of scripts/test:
# cache_note STEP cached|built
cache_note() {
    [ -n "${FAKEGPU_CACHE_NOTES:-}" ] && echo "$1 $2" >>"$FAKEGPU_CACHE_NOTES"
    return 0
}

# The workspace's own packages (path dependencies), whose outputs a cargo
# target directory in the cache must rebuild when the sources change.
FAKEGPU_LOCAL_CRATES="fakegpu-core fakegpu-core-fuzz fakegpuctl fgtest nvtrace replay nvrm fakegpu-device-plugin fakegpu-dra-driver"

# with_cargo_target PURPOSE KEY CMD... : runs CMD with CARGO_TARGET_DIR set
# to the cache's target directory for PURPOSE (one per purpose, reused
# across trees and clones, so dependencies are built once per machine),
# under a lock held for the whole command. KEY names the exact inputs (see
# content_key) plus the toolchain. If the directory's last successful run
# had the same KEY, its outputs were built from these very bytes: they are
# marked newer than the sources (a fresh clone's files are all new, which
# would make cargo rebuild the workspace's crates) and cargo reuses them.
# Otherwise the workspace's own crates' fingerprints are removed first, so
# cargo rebuilds them whatever the files' times say; dependencies are
# reused. The KEY is recorded only when CMD succeeds.
with_cargo_target() {
    local purpose=$1 key=$2; shift 2
    local dir="$FAKEGPU_CACHE/cargo/$purpose"
    mkdir -p "$dir"
    key="$key $(rustc --version 2>/dev/null | tr ' ' _)"
    (
        flock 9
        if [ "$(cat "$dir/.fakegpu-key" 2>/dev/null)" = "$key" ]; then
            # One time for all (cargo also rebuilds a unit whose
            # dependency's output is newer than its own), a second ahead
            # so no source written this second is newer.
            local t=$(( $(date +%s) + 1 ))
            find "$dir" -mindepth 1 -exec touch -c -h -d "@$t" {} + 2>/dev/null || true
            cache_note "cargo:$purpose" cached
        else
            rm -f "$dir/.fakegpu-key"
            local c
            for c in $FAKEGPU_LOCAL_CRATES; do
                find "$dir" -maxdepth 4 \( -path '*/.fingerprint/*' -o -path '*/build/*' \) -name "$c-*" -prune -exec rm -rf {} + 2>/dev/null || true
            done
            cache_note "cargo:$purpose" built
        fi
        CARGO_TARGET_DIR="$dir" "$@" || exit $?
        echo "$key" >"$dir/.fakegpu-key"
    ) 9>"$dir.lock"
}

# Which kernel the scripts build and boot: test (default) or bench (see
# scripts/build-kernel).
kernel_flavour() {
    case "${FAKEGPU_KERNEL:-test}" in
        test|bench) echo "${FAKEGPU_KERNEL:-test}" ;;
        *) die "FAKEGPU_KERNEL must be test or bench (got '$FAKEGPU_KERNEL')" ;;
    esac
}

# The config fragment of the current kernel flavour, on stdout: for bench,
# qemu/kernel.config without the options qemu/bench.config names, then
# qemu/bench.config.
kernel_fragment() {
    local base="$FAKEGPU_ROOT/qemu/kernel.config" over="$FAKEGPU_ROOT/qemu/bench.config"
    if [ "$(kernel_flavour)" = test ]; then cat "$base"; return; fi
    local opts
    opts=$(sed -n 's/^\(CONFIG_[A-Z0-9_]*\)=.*/\1/p; s/^# \(CONFIG_[A-Z0-9_]*\) is not set/\1/p' "$over" | paste -sd'|')
    grep -Ev "^(# )?($opts)[= ]" "$base"
    cat "$over"
}

# The guest image of the current kernel flavour.
guest_image() {
    if [ "$(kernel_flavour)" = test ]; then echo "$FAKEGPU_ROOT/build/initramfs.cpio.gz"; else echo "$FAKEGPU_ROOT/build/initramfs-$(kernel_flavour).cpio.gz"; fi
}

# What in a guest's kernel log fails a run (scripts/qemu-run): an oops, a
# KASAN or UBSAN report, a lockdep splat, a WARN, a Rust panic, a kmemleak
# report, a failed KUnit case.
FAKEGPU_SPLAT_RE='BUG:|WARNING:|Oops|Kernel panic|general protection fault|panicked at|UBSAN:|kmemleak: [0-9]+ new suspected|unreferenced object|Call Trace:|^[[:space:]]*(# )?not ok '
