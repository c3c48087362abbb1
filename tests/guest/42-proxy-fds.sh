# fd translation: calls that carry an fd of one of the context's nodes reach
# nvsim with nvsim's own file (nvsim checks the fd is its file of the right
# kind, as the real driver does); an fd of another context's node is
# refused; no temporary fd is left in the caller's table; and the GPU id
# controls show only the context's GPUs.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
echo "fa gpus=0" >$F/create && echo "fb gpus=1" >$F/create || fail create
A=/dev/fakegpu/fa; B=/dev/fakegpu/fb
cat >/tmp/fds.nvrm <<SCRIPT
open ctl $A/nvidiactl
open gpu $A/nvidia0
open other $B/nvidiactl
open uvm $A/nvidia-uvm
version ctl
expect NV_OK
register gpu ctl
expect NV_OK
register gpu other
expect EINVAL
client c ctl
device d ctl \$c \$c 0
expect NV_OK
uvm-init uvm
expect NV_OK
uvm-gpu uvm 0 ctl \$c
expect NV_OK
echo fds-done
SCRIPT
before=$(ls /proc/self/fd | wc -l)
tenant nvrm script /tmp/fds.nvrm >/tmp/fds.out 2>&1 || { cat /tmp/fds.out; fail "fd script"; }
grep -q fds-done /tmp/fds.out || { cat /tmp/fds.out; fail "script did not finish"; }
dmesg | grep -q "refused a call naming another context's file" || fail "no log line for the cross-context fd"
dmesg | grep -q "escaped" && fail "a false escape report"
echo fa >$F/destroy && echo fb >$F/destroy

# Device instances: in a context of host GPU 1, device 0 is host GPU 1
# (its memory comes from GPU 1's heap), and device 1 does not exist.
heap_used() { awk '/^used_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu$1/heap; }
echo "fc gpus=1" >$F/create || fail create
h0=$(heap_used 0); h1=$(heap_used 1)
cat >/tmp/dev.nvrm <<SCRIPT
open ctl /dev/fakegpu/fc/nvidiactl
open gpu /dev/fakegpu/fc/nvidia0
version ctl
client c ctl
device d ctl \$c \$c 0
expect NV_OK
device d1 ctl \$c \$c 1
expect NV_ERR_INVALID_ARGUMENT
alloc m ctl \$c \$d 0x40 size=4Mi
expect NV_OK
echo dev-done
SCRIPT
tenant nvrm script /tmp/dev.nvrm >/tmp/dev.out 2>&1 || { cat /tmp/dev.out; fail "device script"; }
grep -q dev-done /tmp/dev.out || { cat /tmp/dev.out; fail "device script did not finish"; }
assert_eq "$(heap_used 0)" "$h0" "GPU 0's heap untouched"
assert_eq "$(cat $F/contexts/fc/mem_used_bytes)" "0" "freed at exit"
echo fc >$F/destroy
