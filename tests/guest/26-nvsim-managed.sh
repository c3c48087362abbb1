# UVM managed memory (cudaMallocManaged) on nvsim, directly: the mmap of
# the UVM file creates a managed range and puts nothing on the GPU;
# UVM_MIGRATE to the GPU charges exactly the bytes made resident to the
# card's heap (used_bytes and managed_bytes) and nothing to the process's
# RM count (GPU_GET_PID_INFO), as on the H100 (scripts/h100/managed.sh:
# 1 GiB touched took 1 GiB of the card, 0 of the process); unmapping the
# migrated half frees it, munmap or exit frees the rest; a range larger
# than the card maps; uvm_mmap's refusals keep their errnos. As root and
# as nobody.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
H=/sys/kernel/debug/nvsim/gpu0/heap
used() { awk '/^used_bytes/ {print $2}' $H; }
managed() { awk '/^managed_bytes/ {print $2}' $H; }
total=$(awk '/^total_bytes/ {print $2}' $H)
[ -n "$(managed)" ] || fail "heap file lacks managed_bytes"
base=$(used)
assert_eq "$(managed)" 0 "managed_bytes at the start"
MiB=1048576
key() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$1" | head -1; }

# held RUNAS OUT ARGS...: runs fgtest managed in the background until the
# test has looked (the hold file), after its first report line.
held() {
    as=$1 out=$2; shift 2
    rm -f /tmp/mg.go
    $as fgtest managed --hold-file /tmp/mg.go "$@" >"$out" 2>&1 &
    pid=$!
    i=0
    while ! grep -q '^managed mapped=' "$out" && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
    if [ -n "$HALF" ]; then
        while ! grep -q '^managed unmap_half' "$out" && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
    fi
    grep -q '^managed mapped=[1-9]' "$out" || { cat "$out"; fail "fgtest managed $*: no mapping"; }
}
release() {
    touch /tmp/mg.go
    wait $pid || { cat "$1"; fail "fgtest managed: exit $?"; }
}

for who in root nobody; do
    as=""
    [ $who = nobody ] && as="fgtest as-uid 65534"
    # 64 MiB mapped: nothing on the GPU.
    HALF= held "$as" /tmp/mg.a --mib 64
    assert_eq "$(used)" "$base" "$who: 64 MiB mapped, heap"
    assert_eq "$(managed)" 0 "$who: 64 MiB mapped, managed_bytes"
    assert_eq "$(key /tmp/mg.a validate_status)" 0x0 "$who: VALIDATE_VA_RANGE"
    release /tmp/mg.a
    # 32 MiB of it migrated to the GPU: exactly 33554432 B more used.
    HALF= held "$as" /tmp/mg.b --mib 64 --migrate-mib 32
    assert_eq "$(key /tmp/mg.b migrate_status)" 0x0 "$who: UVM_MIGRATE"
    assert_eq "$(used)" "$((base + 32 * MiB))" "$who: 32 MiB migrated, used_bytes"
    assert_eq "$(managed)" "$((32 * MiB))" "$who: 32 MiB migrated, managed_bytes"
    assert_eq "$(key /tmp/mg.b resident_after)" "$((32 * MiB))" "$who: FB_GET_INFO free after the migration"
    assert_eq "$(key /tmp/mg.b pid_private)" 0 "$who: GPU_GET_PID_INFO counts no managed memory"
    release /tmp/mg.b
    assert_eq "$(key /tmp/mg.b resident)" 0 "$who: after munmap, FB_GET_INFO"
    assert_eq "$(used)" "$base" "$who: after munmap, heap"
    assert_eq "$(managed)" 0 "$who: after munmap, managed_bytes"
    # The migrated half unmapped: freed; the other half migrates.
    HALF=1 held "$as" /tmp/mg.c --mib 64 --migrate-mib 32 --unmap-half
    assert_eq "$(key /tmp/mg.c resident_after)" "$((32 * MiB))" "$who: before the unmap"
    grep '^managed unmap_half' /tmp/mg.c >/tmp/mg.c2
    assert_eq "$(key /tmp/mg.c2 resident)" 0 "$who: the migrated half unmapped"
    assert_eq "$(key /tmp/mg.c2 unmapped_migrate_status)" 0x1e "$who: migrating the unmapped half (NV_ERR_INVALID_ADDRESS)"
    assert_eq "$(key /tmp/mg.c2 remigrate_status)" 0x0 "$who: migrating the other half"
    assert_eq "$(used)" "$((base + 32 * MiB))" "$who: the other half migrated, heap"
    release /tmp/mg.c
    assert_eq "$(used)" "$base" "$who: after the split range's munmap"
    # Exit without munmap (killed while holding 32 MiB on the GPU).
    HALF= held "$as" /tmp/mg.d --mib 64 --migrate-mib 32
    assert_eq "$(used)" "$((base + 32 * MiB))" "$who: before the kill"
    kill -9 $pid
    wait $pid 2>/dev/null || true
    i=0
    while [ "$(used)" != "$base" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    assert_eq "$(used)" "$base" "$who: after the process was killed"
    assert_eq "$(managed)" 0 "$who: managed_bytes after the kill"
    # Larger than the card: maps, nothing resident; migrating more than
    # the card holds is NV_ERR_NO_MEMORY and changes nothing.
    big=$(( total / MiB * 2 ))
    HALF= held "$as" /tmp/mg.e --mib $big --migrate-mib $(( total / MiB + 64 ))
    assert_eq "$(key /tmp/mg.e mapped)" "$((big * MiB))" "$who: a map of twice the card"
    assert_eq "$(key /tmp/mg.e migrate_status)" 0x51 "$who: migrating more than the card"
    assert_eq "$(used)" "$base" "$who: after the refused migration"
    assert_eq "$(managed)" 0 "$who: managed_bytes after the refused migration"
    release /tmp/mg.e
    # uvm_mmap's refusals: offset != address (EINVAL), an uninitialized
    # file (EBADFD); fgtest exits 3 for a refused mmap.
    rc=0; $as fgtest managed --mib 4 --bad-offset >/tmp/mg.f 2>&1 || rc=$?
    assert_eq "$rc" 3 "$who: --bad-offset exit"
    assert_eq "$(key /tmp/mg.f mmap_errno)" 22 "$who: offset != address"
    rc=0; $as fgtest managed --mib 4 --uninit >/tmp/mg.g 2>&1 || rc=$?
    assert_eq "$rc" 3 "$who: --uninit exit"
    assert_eq "$(key /tmp/mg.g mmap_errno)" 77 "$who: uninitialized file"
    assert_eq "$(used)" "$base" "$who: heap at the end"
    echo "$who: managed memory as on the H100 ($(key /tmp/mg.b resident_after) B resident for 32 MiB migrated, pid count 0)"
done
