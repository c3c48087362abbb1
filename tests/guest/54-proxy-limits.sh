# Per-context limits (issue 16 §5): a tenant cannot make the proxy keep an
# unbounded number of objects, files or doorbell mappings for it. With
# objects=12 files=4 doorbells=1, as nobody in a container: the fifth open
# fails with EMFILE, the allocation past twelve objects is answered
# NV_ERR_INSUFFICIENT_RESOURCES without reaching the vendor (nvsim's heap
# and the ledger stay equal), a second doorbell mapping fails with ENOMEM
# while the first stays gated, every refusal is counted in `limits`, and a
# freed object makes room again. Bad writes to `limits` change nothing.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
L=$F/contexts/lim/limits
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu0/heap; }
field() { awk -v k="$1" -v n="$2" '$1 == k {print $n}' $L; }
base=$(heap_used)
echo "lim gpus=0 mem=256M" >$F/create || fail create
cat $L
assert_eq "$(field objects 2) $(field files 2) $(field doorbells 2)" "131072 8192 4096" "default limits"
for bad in "objects=0" "objects=x" "handles=3" "files=4 handles=3" "objects" " " "objects=16777217"; do
    if printf '%s' "$bad" >$L 2>/dev/null; then fail "limits took '$bad'"; fi
done
assert_eq "$(field objects 2) $(field files 2)" "131072 8192" "a refused write changed the limits"
echo "objects=12 files=4 doorbells=1" >$L || fail "set limits"
# 4 files: ctl, two GPU files, and a fifth open refused after a fourth.
script=/tmp/lim.nvrm
{
    echo 'open ctl /dev/nvidiactl'
    echo 'client c ctl'; echo 'expect NV_OK'
    echo 'open g0 /dev/nvidia0'
    echo 'device d ctl $c $c 0'; echo 'expect NV_OK'
    echo 'subdevice s ctl $c $d'; echo 'expect NV_OK'
    echo 'open gd /dev/nvidia0'
    echo 'open g2 /dev/nvidia0'
    echo 'open g3 /dev/nvidia0'
    echo 'echo FILES'
    # Objects so far: client, device, subdevice (3); the usermode object
    # and eight 1 MiB blocks make twelve, the ninth block is refused.
    echo 'alloc um ctl $c $s 0xc661'; echo 'expect NV_OK'
    for i in 1 2 3 4 5 6 7 8; do echo "alloc m$i ctl \$c \$d 0x40 size=1Mi"; echo 'expect NV_OK'; done
    echo 'alloc m9 ctl $c $d 0x40 size=1Mi'
    echo 'echo OBJECTS'
    echo 'free ctl $c $m1'; echo 'expect NV_OK'
    echo 'alloc m10 ctl $c $d 0x40 size=1Mi'; echo 'expect NV_OK'
    echo 'echo ROOM'
    # One doorbell mapping, then a second mmap of the doorbell's file.
    echo 'map dc ctl $c $s $um 0 0x10000 gd'; echo 'expect NV_OK'
    echo 'mmap D gd 0x10000'; echo 'expect NV_OK'
    echo 'mmap D2 gd 0x10000'
    echo 'echo DOORBELLS'
} >$script
mkfifo /tmp/lim.feed
in_container lim nvrm script - </tmp/lim.feed >/tmp/lim.out 2>&1 &
pid=$!
exec 3>/tmp/lim.feed
cat $script >&3
i=0; until grep -q '^DOORBELLS' /tmp/lim.out; do i=$((i+1)); [ $i -lt 300 ] || { cat /tmp/lim.out; fail "tenant"; }; sleep 0.1; done
cat /tmp/lim.out
if grep -q 'expected' /tmp/lim.out; then fail "a call within the limits failed"; fi
grep -q '^open g3 /dev/nvidia0 -> EMFILE' /tmp/lim.out ||
    fail "the fifth open was not refused with EMFILE"
grep -q '^alloc m9 .* -> NV_ERR_INSUFFICIENT_RESOURCES' /tmp/lim.out ||
    fail "the thirteenth object was not refused with NV_ERR_INSUFFICIENT_RESOURCES"
grep -q '^mmap D2 gd 0x10000 -> ENOMEM' /tmp/lim.out ||
    fail "the second doorbell mapping was not refused with ENOMEM"
cat $L
assert_eq "$(field objects 3) $(field files 3) $(field doorbells 3)" "12 4 1" "in use"
assert_eq "$(field objects 4) $(field files 4) $(field doorbells 4)" "1 1 1" "refusals counted"
# What reached the vendor is what the ledger holds: 8 blocks (m2..m8, m10).
assert_eq "$(cat $F/contexts/lim/mem_used_bytes)" $((8 * 1048576)) "ledger"
assert_eq "$(( $(heap_used) - base ))" $((8 * 1048576)) "nvsim heap equals the ledger"
exec 3>&-
wait $pid || fail "tenant script: $(cat /tmp/lim.out)"
# The vendor frees a closed file's clients when its own file goes (after
# the tenant's exit); the closed file's objects go then.
i=0; while [ "$(field files 3) $(field doorbells 3) $(field objects 3)" != "0 0 0" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done
assert_eq "$(field files 3) $(field doorbells 3) $(field objects 3)" "0 0 0" "nothing left after the tenant exited"
echo lim >$F/destroy || fail destroy
i=0; while [ "$(heap_used)" != "$base" ] && [ $i -lt 50 ]; do i=$((i+1)); sleep 0.1; done
assert_eq "$(heap_used)" "$base" "nvsim heap back"
