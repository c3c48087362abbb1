# Random ioctls with random parameter bytes and wild pointers, from an
# unprivileged process, on every node of a context: no kernel splat (the
# harness checks the log), and the ledger is consistent afterwards: nothing
# charged once every file is closed, and the context destroys cleanly.
. /usr/lib/fakegpu/guest-lib.sh
F=/sys/kernel/fakegpu
if [ ! -e /dev/nvidiactl ]; then
    mknod /dev/nvidiactl c 1 3; mknod /dev/nvidia0 c 1 5; mknod /dev/nvidia-uvm c 1 3
fi
echo "fz gpus=0 mem=64M" >$F/create || fail "create"
for seed in 1 2 3 4; do
    fgtest fuzz-ioctl /dev/fakegpu/fz 5000 $seed || fail "fuzz seed $seed"
done
assert_eq "$(cat $F/contexts/fz/open_files)" "0"
assert_eq "$(cat $F/contexts/fz/mem_used_bytes)" "0" "ledger after all files closed"
echo fz >$F/destroy || fail "destroy"
