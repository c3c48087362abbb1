# GPU_GET_PIDS names every process of the GPU that the caller's pid
# namespace can see (the RM's gpuGetProcWithObject; nvsim models it), so a
# container without a pid namespace of its own would list every tenant's
# processes. Through the proxy the reply names only the context's own
# processes, and the tenant never sees the vendor's reply (the proxy runs
# the control on its own subdevice and rewrites it before copying it out).
# Two contexts on GPU 0 with a holder process each; a query in A lists A's
# holder and itself, never B's; the same query on the vendor's nodes lists
# all three.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
W=/tmp/pids
rm -rf $W; mkdir -p $W; chmod 777 $W
cleanup() {
    rc=$?
    touch $W/done
    wait 2>/dev/null
    for c in pa pb; do [ -d $F/contexts/$c ] && echo $c >$F/destroy; done
    exit $rc
}
trap cleanup EXIT
for c in pa pb; do echo "$c gpus=0 mem=1Gi" >$F/create || fail "create $c"; done

session() {   # session NAME: a client with a device and subdevice of GPU 0
    cat <<EOF
open ctl /dev/nvidiactl
open g /dev/nvidia0
version ctl
client c ctl
device d ctl \$c \$c 0
subdevice s ctl \$c \$d
EOF
}
for c in pa pb; do
    { session; echo "write-pid $W/pid-$c"; echo "wait-file $W/done"; } >$W/hold-$c.nvrm
    in_container $c nvrm script $W/hold-$c.nvrm >$W/hold-$c.out 2>&1 &
done
for c in pa pb; do
    n=0
    until [ -s $W/pid-$c ]; do
        n=$((n + 1)); [ $n -lt 300 ] || fail "holder $c did not start: $(cat $W/hold-$c.out)"; sleep 0.1
    done
done
pa=$(cat $W/pid-pa) pb=$(cat $W/pid-pb)
{ session; echo "write-pid $W/pid-q"; echo "pids ctl \$c \$s"; echo "expect NV_OK"; } >$W/query.nvrm

in_container pa nvrm script $W/query.nvrm >$W/q-pa.out 2>&1 ||
    fail "query in pa: $(cat $W/q-pa.out); holders: $(cat $W/hold-pa.out $W/hold-pb.out)"
q=$(cat $W/pid-q)
list=$(sed -n 's/^pids [0-9]*: //p' $W/q-pa.out)
echo "through the proxy (context pa, holders pa=$pa pb=$pb, query $q): $list"
has() { echo " $list " | grep -q " $1 "; }
has "$pa" || fail "pa's holder is not listed in pa"
has "$q" || fail "the query itself is not listed"
has "$pb" && fail "pb's holder ($pb) is listed in pa"
assert_eq "$(echo $list | wc -w)" 2 "processes pa sees"

# The vendor's own answer, on its nodes: every process of the GPU.
nvrm script $W/query.nvrm >$W/q-host.out 2>&1 || fail "query on the vendor's nodes: $(cat $W/q-host.out)"
list=$(sed -n 's/^pids [0-9]*: //p' $W/q-host.out)
echo "on the vendor's nodes: $list"
has "$pa" && has "$pb" || fail "the vendor's list lacks a holder: $list"
echo ok
