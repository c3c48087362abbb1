# Managed memory through the proxy (issue 16 §4, docs/isolation.md §8).
# cudaMallocManaged is an mmap of the nvidia-uvm node; UVM backs it from
# the GPU's PMA when touched there (here: UVM_MIGRATE to GPU 0), with no RM
# allocation, so the RM's per-process count never sees it (H100:
# tests/fidelity/h100-580.159.04/managed.txt). The attack: two processes
# of a 256 MiB context each map and migrate 256 MiB. Before the fix both
# succeeded and nvsim held 512 MiB of managed memory for the context; now
# every managed mapping is charged at its size, so the second is refused
# (ENOMEM) and the card never holds more than the cap. Then: the charge
# follows munmap (half unmapped -> half charged; exit -> 0), and the
# policies deny and allow. As TENANT_UID (nobody by default).
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
C=$F/contexts/mg
MiB=1048576
mheap() { awk '/^managed_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
mg() { awk -v k="$1" '$1 == k {print $2}' $C/managed; }
wait_line() {  # wait_line FILE PATTERN
    i=0; until grep -q "$2" "$1" 2>/dev/null; do
        i=$((i+1)); [ $i -lt 600 ] || { cat "$1"; fail "no '$2' in $1"; }; sleep 0.1
    done
}
base=$(mheap)
echo "mg gpus=0 mem=256M" >$F/create || fail create
assert_eq "$(cat $C/managed_memory)" "charge" "default policy"

# 1. The attack: two cap-sized managed ranges, each migrated whole.
rm -f /tmp/mg.h1 /tmp/mg.h2
in_container mg fgtest managed --mib 256 --migrate-mib 256 --hold-file /tmp/mg.h1 >/tmp/mg.1 2>&1 &
p1=$!
wait_line /tmp/mg.1 '^managed mapped='
in_container mg fgtest managed --mib 256 --migrate-mib 256 --hold-file /tmp/mg.h2 >/tmp/mg.2 2>&1 &
p2=$!
wait_line /tmp/mg.2 '^managed mapped='
resident=$(( $(mheap) - base ))
echo "attack: context's managed memory resident on the card: $resident B (cap $((256 * MiB)))"
echo "first:  $(head -1 /tmp/mg.1)"
echo "second: $(head -1 /tmp/mg.2)"
touch /tmp/mg.h1 /tmp/mg.h2
[ "$resident" -le $((256 * MiB)) ] || fail "the card holds $resident B of the context's managed memory, past its 256 MiB cap"
grep -q '^managed mapped=268435456 .*migrate_status=0x0 ' /tmp/mg.1 || fail "the first mapping within the cap failed"
wait $p1 || fail "first client failed"
rc=0; wait $p2 || rc=$?
assert_eq "$rc" "3" "second client's exit (3: mmap refused)"
grep -q 'mmap_errno=12' /tmp/mg.2 || fail "second mapping not refused with ENOMEM"
assert_eq "$(mg refused)" "1" "refusals counted"
assert_eq "$(mg bytes)" "0" "managed charge after both exited"
assert_eq "$(cat $C/mem_used_bytes)" "0" "ledger after both exited"
assert_eq "$(mheap)" "$base" "nvsim's managed memory after both exited"

# 2. The charge follows munmap: 128 MiB mapped, half unmapped.
rm -f /tmp/mg.h3
in_container mg fgtest managed --mib 128 --migrate-mib 64 --unmap-half --hold-file /tmp/mg.h3 >/tmp/mg.3 2>&1 &
p3=$!
wait_line /tmp/mg.3 '^managed unmap_half'
assert_eq "$(mg bytes)" "$((64 * MiB))" "managed charge after half was unmapped"
assert_eq "$(mg ranges)" "1" "ranges after half was unmapped"
used=$(cat $C/mem_used_bytes)
[ "$used" -ge $((64 * MiB)) ] && [ "$used" -lt $((128 * MiB)) ] || fail "ledger $used B with 64 MiB managed mapped"
# Within the cap again: a second process may map what the first let go.
in_container mg fgtest managed --mib 192 --migrate-mib 0 >/tmp/mg.4 2>&1 || { cat /tmp/mg.4; fail "192 MiB beside 64 MiB under a 256 MiB cap"; }
touch /tmp/mg.h3
wait $p3 || { cat /tmp/mg.3; fail "third client failed"; }
assert_eq "$(mg bytes)" "0" "managed charge after exit"
assert_eq "$(mheap)" "$base" "nvsim's managed memory after exit"

# 3. A range larger than the card is refused under the cap.
rc=0; in_container mg fgtest managed --mib 32768 >/tmp/mg.5 2>&1 || rc=$?
assert_eq "$rc" "3" "32 GiB managed under a 256 MiB cap"

# 4. deny: only the CUDA driver's own 2 MiB range maps.
echo deny >$C/managed_memory || fail "set deny"
rc=0; in_container mg fgtest managed --mib 64 >/tmp/mg.6 2>&1 || rc=$?
assert_eq "$rc" "3" "64 MiB managed under deny"
in_container mg fgtest managed --mib 2 --migrate-mib 2 >/tmp/mg.7 2>&1 || { cat /tmp/mg.7; fail "2 MiB under deny"; }

# 5. allow: not charged (limited by the card only).
echo allow >$C/managed_memory || fail "set allow"
rm -f /tmp/mg.h8
in_container mg fgtest managed --mib 512 --migrate-mib 512 --hold-file /tmp/mg.h8 >/tmp/mg.8 2>&1 &
p8=$!
wait_line /tmp/mg.8 '^managed mapped='
assert_eq "$(mg bytes)" "0" "allow: nothing charged"
[ $(( $(mheap) - base )) -eq $((512 * MiB)) ] || fail "allow: 512 MiB not resident"
touch /tmp/mg.h8
wait $p8 || fail "allow client"
assert_fails sh -c "echo maybe >$C/managed_memory"
assert_eq "$(cat $C/managed_memory)" "allow" "policy after a bad write"
echo mg >$F/destroy
assert_eq "$(mheap)" "$base" "nvsim's managed memory at the end"
