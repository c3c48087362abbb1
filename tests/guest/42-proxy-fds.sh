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
nvrm script /tmp/fds.nvrm >/tmp/fds.out 2>&1 || { cat /tmp/fds.out; fail "fd script"; }
grep -q fds-done /tmp/fds.out || { cat /tmp/fds.out; fail "script did not finish"; }
dmesg | grep -q "refused a call naming another context's file" || fail "no log line for the cross-context fd"
dmesg | grep -q "escaped" && fail "a false escape report"
echo fa >$F/destroy && echo fb >$F/destroy
