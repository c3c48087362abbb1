# nvsim maps the usermode (doorbell, 0xc661) region as nvidia.ko maps GPU
# registers: a PFN mapping (VM_IO | VM_PFNMAP | VM_DONTEXPAND |
# VM_DONTDUMP, no fault handler), which a proxy can revoke with
# zap_vma_ptes; ring memory stays a vm_insert_page (mixed) mapping. Work
# submitted through the PFN mapping runs; a fork's copy of the mapping rings
# too; the pages outlive the RM object and the file while mapped (the vma
# holds them) and are released at munmap (kmemleak and KASAN run at the end).
. /usr/lib/fakegpu/guest-lib.sh
grep -q '^nvsim ' /proc/modules || exit 77
dbg=/sys/kernel/debug/nvsim
eng() { sed -n "s/^$1 //p" $dbg/gpu0/engine; }
mem() { sed -n "s/^$1 //p" $dbg/mem; }
[ -r $dbg/mem ] || fail "no $dbg/mem"
backings0=$(mem backings)
assert_eq "$(mem pfnmap_vmas)" 0 "no PFN vmas at start"

# One script process driven line by line through a FIFO: `do_ LINES...`
# sends the lines and waits until they ran.
rm -f /tmp/db.in /tmp/db.out
mkfifo /tmp/db.in
nvrm script - </tmp/db.in >/tmp/db.out 2>&1 &
pid=$!
exec 5>/tmp/db.in
n=0
do_() {
    n=$((n + 1))
    for l in "$@"; do printf '%s\n' "$l" >&5; done
    printf 'echo @%d\n' $n >&5
    i=0
    until grep -qx "@$n" /tmp/db.out; do
        kill -0 $pid 2>/dev/null || { cat /tmp/db.out; fail "nvrm script died at step $n"; }
        i=$((i + 1)); [ $i -lt 600 ] || { cat /tmp/db.out; fail "nvrm script stuck at step $n"; }
        sleep 0.1
    done
}
# VmFlags of the script's /dev/nvidia0 mapping of SIZE kB.
vmflags() {
    awk -v kb="$1" '
        /^[0-9a-f]+-[0-9a-f]+ / { dev = ($NF ~ /^\/dev\/nvidia[0-9]+$/); next }
        dev && $1 == "Size:" { sz = $2 }
        dev && $1 == "VmFlags:" && sz == kb { $1 = ""; print; exit }
    ' /proc/$pid/smaps
}
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
# Waits (up to 30 s) until engine counter $1 exceeds $2.
wait_eng() {
    i=0
    until [ "$(eng $1)" -gt "$2" ]; do
        i=$((i + 1)); [ $i -lt 300 ] || { cat $dbg/gpu0/engine $dbg/gpu0/channels; fail "$3"; }
        sleep 0.1
    done
}
# Busy entry of U µs (nvabi::sim OP_BUSY) at ring slot I: two u32 halves.
entry() { printf 'write32 R %d %d\nwrite32 R %d 0x01000000' $((0x1000 + 8 * $1)) $2 $((0x1004 + 8 * $1)); }

do_ 'open ctl /dev/nvidiactl' 'version ctl' 'expect NV_OK' \
    'client c ctl' 'expect NV_OK' \
    'open gpuheld /dev/nvidia0' 'device d ctl $c $c 0' 'expect NV_OK' \
    'subdevice s ctl $c $d' 'expect NV_OK' \
    'tsg t ctl $c $d' 'expect NV_OK' \
    'alloc m ctl $c $d 0x40 size=16384' 'expect NV_OK' \
    'channel ch ctl $c $t $m' 'expect NV_OK' \
    'alloc um ctl $c $s 0xc661' 'expect NV_OK' \
    'open gm /dev/nvidia0' 'map mc ctl $c $d $m 0 0x4000 gm' 'expect NV_OK' \
    'mmap R gm 0x4000' 'expect NV_OK' \
    'open gd /dev/nvidia0' 'map dc ctl $c $s $um 0 0x10000 gd' 'expect NV_OK' \
    'mmap D gd 0x10000' 'expect NV_OK'
if grep -q 'SKIP\|expected' /tmp/db.out; then cat /tmp/db.out; fail "setup"; fi

# The doorbell is a PFN mapping; the ring memory is unchanged (mixed map).
dfl=$(vmflags 64); rfl=$(vmflags 16)
echo "doorbell VmFlags:$dfl"
echo "ring VmFlags:$rfl"
for f in pf io de dd; do has "$dfl" $f || fail "doorbell mapping lacks '$f': $dfl"; done
if has "$dfl" mm; then fail "doorbell mapping is mixed: $dfl"; fi
if has "$dfl" dc; then fail "doorbell mapping is VM_DONTCOPY (the vendor's is not): $dfl"; fi
has "$rfl" mm || fail "ring mapping is not a mixed map: $rfl"
if has "$rfl" pf; then fail "ring mapping became a PFN map: $rfl"; fi
assert_eq "$(mem pfnmap_vmas)" 1 "one PFN vma"
assert_eq "$(mem backings)" $((backings0 + 2)) "channel memory and doorbell backed"

# Work submitted through the PFN-mapped doorbell runs.
r0=$(eng doorbell_rings); b0=$(eng busy_us)
do_ "$(entry 0 3000)" "$(entry 1 3000)" 'write32 R 0x8c 2' 'write32 D 0x90 1'
wait_eng doorbell_rings $r0 "doorbell write not seen"
wait_eng busy_us $((b0 + 5999)) "submitted work did not run"
echo "engine: rings $r0 -> $(eng doorbell_rings), busy_us $b0 -> $(eng busy_us)"

# A fork inherits the mapping (vm_ops->open) with its PTEs; the child's
# doorbell write submits work; its exit closes its copy.
r1=$(eng doorbell_rings); b1=$(eng busy_us)
do_ "$(entry 2 3000)" 'write32 R 0x8c 3' 'fork-write32 D 0x90 1' 'expect NV_OK'
if grep -q 'expected\|child status' /tmp/db.out; then cat /tmp/db.out; fail "fork-write32"; fi
wait_eng doorbell_rings $r1 "the child's doorbell write was not seen"
wait_eng busy_us $((b1 + 2999)) "work rung by the child did not run"
assert_eq "$(mem pfnmap_vmas)" 1 "the child's vma copy was closed"

# Free the usermode object while mapped, close the file too: the vma alone
# keeps the pages; writes land in them (read back) and ring nothing.
do_ 'free ctl $c $um' 'expect NV_OK' 'close gd'
assert_eq "$(mem backings)" $((backings0 + 2)) "the vma keeps the doorbell pages"
r2=$(eng doorbell_rings)
do_ 'write32 D 0x90 7' 'write32 D 0xfffc 0xabcd' 'write32 D 0 5'
sleep 1
do_ 'read32 D 0x90' 'read32 D 0xfffc' 'read32 D 0'
tail -n 4 /tmp/db.out | grep -qx 7 || { cat /tmp/db.out; fail "doorbell page lost the write"; }
tail -n 4 /tmp/db.out | grep -qx 43981 || { cat /tmp/db.out; fail "last doorbell page lost the write"; }
assert_eq "$(eng doorbell_rings)" "$r2" "a freed usermode object still rings"

# munmap releases the pages; the end of the script releases the rest.
do_ 'munmap D'
assert_eq "$(mem pfnmap_vmas)" 0 "PFN vma closed at munmap"
assert_eq "$(mem backings)" $((backings0 + 1)) "doorbell pages freed at munmap"
if grep -q 'SKIP\|expected' /tmp/db.out; then cat /tmp/db.out; fail "script"; fi
exec 5>&-
wait $pid || { cat /tmp/db.out; fail "nvrm script failed"; }
i=0
until [ "$(mem backings)" = "$backings0" ]; do
    i=$((i + 1)); [ $i -lt 50 ] || fail "backings not released: $(mem backings), want $backings0"
    sleep 0.1
done

# The engine test's burn (mapping and ringing through the PFN mapping) still works.
nvrm burn --gpu 0 --busy-us 1000 --for 1 >/tmp/b0 || fail "burn"
done0=$(sed -n 's/^submitted [0-9]* completed //p' /tmp/b0)
[ "$done0" -gt 100 ] || { cat /tmp/b0; fail "burn ran too little: $done0 entries"; }
assert_eq "$(mem pfnmap_vmas)" 0 "burn's PFN vma closed"
echo "ok"
