# Every doorbell mapping stays gated (issue 16 §3, docs/isolation.md §7):
# - remap_file_pages on a gated doorbell vma: the kernel maps the vma's
#   vm_file again itself (do_mmap). Before, vm_file was the vendor's file,
#   so the new mapping came from the vendor's mmap directly and was not
#   gated; now a gated vma keeps the proxy's file, the remap comes through
#   the proxy and is gated again (VM_DONTCOPY, and the doorbell count).
# - RM_MAP_MEMORY naming a file that was mapped already: were the file's
#   mapping context replaced, a remap of its earlier (memory) vma would
#   map the doorbell without the proxy's mmap. The vendor keeps one
#   context per file for good (nv_add_mapping_context_to_file:
#   NV_ERR_STATE_IN_USE; nvsim models it), and this checks that it still
#   holds through the proxy.
# As nobody in a container, through nvsim.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
L=$F/contexts/mc/limits
doorbells() { awk '$1 == "doorbells" {print $3}' $L; }
echo "mc gpus=0 mem=256M" >$F/create || fail create
rm -f /tmp/mc.in /tmp/mc.out; mkfifo /tmp/mc.in
in_container mc nvrm script - </tmp/mc.in >/tmp/mc.out 2>&1 &
exec 5>/tmp/mc.in
n=0
do_() {
    n=$((n + 1))
    for l in "$@"; do printf '%s\n' "$l" >&5; done
    printf 'echo @%d\n' $n >&5
    i=0
    until grep -qx "@$n" /tmp/mc.out; do
        i=$((i + 1)); [ $i -lt 600 ] || { cat /tmp/mc.out; fail "nvrm script stuck at step $n"; }
        sleep 0.1
    done
}
do_ 'open ctl /dev/nvidiactl' 'client c ctl' 'expect NV_OK' \
    'open g0 /dev/nvidia0' 'device d ctl $c $c 0' 'expect NV_OK' \
    'subdevice s ctl $c $d' 'expect NV_OK' \
    'alloc um ctl $c $s 0xc661' 'expect NV_OK' \
    'alloc m ctl $c $d 0x40 size=16384' 'expect NV_OK'
pid=$(pidof nvrm) || fail "no nvrm process"
# VmFlags of the script's shared mapping of SIZE kB (its only shared ones
# are of the GPU nodes; their path is not the node's: the vendor file is
# opened through a private mount).
vmflags() {
    awk -v kb="$1" '
        /^[0-9a-f]+-[0-9a-f]+ / { dev = ($2 ~ /s$/); next }
        dev && $1 == "Size:" { sz = $2 }
        dev && $1 == "VmFlags:" && sz == kb { $1 = ""; print; exit }
    ' /proc/$pid/smaps
}
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
# The doorbell, mapped honestly: gated.
do_ 'open gd /dev/nvidia0' 'map dc ctl $c $s $um 0 0x10000 gd' 'expect NV_OK' \
    'mmap D gd 0x10000' 'expect NV_OK'
f=$(vmflags 64); echo "doorbell VmFlags:$f"
[ -n "$f" ] || { cat /proc/$pid/maps; fail "no doorbell mapping found"; }
has "$f" dc || fail "the doorbell mapping is not gated: $f"
assert_eq "$(doorbells)" 1 "one gated doorbell"
# remap_file_pages over it.
do_ 'remap D' 'expect NV_OK'
f=$(vmflags 64); echo "remapped doorbell VmFlags:$f"
[ -n "$f" ] || fail "no doorbell mapping after the remap"
has "$f" dc || fail "remap_file_pages gave an ungated doorbell: $f"
assert_eq "$(doorbells)" 1 "the remapped doorbell is gated (and the old record gone)"
# Memory mapped through file gm; then the doorbell named on gm: refused.
do_ 'open gm /dev/nvidia0' 'map mc ctl $c $d $m 0 0x4000 gm' 'expect NV_OK' \
    'mmap R gm 0x4000' 'expect NV_OK' \
    'map dc2 ctl $c $s $um 0 0x10000 gm'
cat /tmp/mc.out
grep -q '^map dc2 .* -> NV_ERR_STATE_IN_USE' /tmp/mc.out ||
    fail "RM_MAP_MEMORY naming a mapped file was not refused (the proxy relies on the vendor's one context per file)"
if grep -q 'expected' /tmp/mc.out; then fail "a step failed"; fi
# The memory vma remapped maps memory still (no doorbell appears).
do_ 'remap R' 'expect NV_OK'
assert_eq "$(doorbells)" 1 "no doorbell from the memory file"
f=$(vmflags 16); echo "remapped memory VmFlags:$f"
if has "$f" pf; then fail "the remapped memory vma is a PFN (doorbell) mapping: $f"; fi
exec 5>&-
i=0; while pidof nvrm >/dev/null && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
assert_eq "$(doorbells)" 0 "no doorbell left after the tenant exited"
echo mc >$F/destroy || fail destroy
