# The module binds to the vendor driver's branch: it reads the version
# (the kernel RM API's handshake at load, the vendor file's module at each
# open), selects that branch's ABI table, and reports it in sysfs
# `driver`; a branch it has no table for is refused, never forwarded on a
# guess. nvsim speaks 580.159.04 (branch=0), 550.163.01 (branch=1) and, for
# this test only, 590.44.01 (branch=2: a version fakegpu has no table for).
. /usr/lib/fakegpu/guest-lib.sh
[ -f $MODDIR/nvsim.ko ] || { echo "nvsim not in the image"; exit 77; }
F=/sys/kernel/fakegpu
W=/tmp/branches
restore() { unload_modules >/dev/null 2>&1; load_modules; }
trap restore EXIT
klog() { dmesg | grep -F "$1" >/dev/null; }

# 1. Loaded after an unsupported vendor: the module refuses to load, and
#    says what it found and what it supports.
unload_modules || fail "could not unload the modules"
insmod $MODDIR/nvsim.ko branch=2 || fail "insmod nvsim branch=2"
dmesg -c >/dev/null
if insmod $MODDIR/fakegpu.ko 2>/tmp/insmod.err; then
    fail "fakegpu loaded over an unsupported vendor (590.44.01)"
fi
klog "vendor driver 590.44.01 has no ABI table in fakegpu" || fail "no refusal in the kernel log: $(dmesg | tail -5)"
klog "(supported: 580.x, 550.x): not loading" || fail "the refusal does not name the supported branches"
echo "refused at load: $(dmesg | grep -F 'has no ABI table' | sed 's/^\[[^]]*\] //')"

# Permissive mode (bring-up only) loads anyway, and says so.
insmod $MODDIR/fakegpu.ko permissive=1 || fail "permissive fakegpu did not load"
klog "permissive mode: loading anyway" || fail "permissive load not logged"
assert_eq "$(cat $F/driver)" "nvidia 590.44.01 unsupported" "sysfs driver (permissive, at load)"
rmmod fakegpu || fail "rmmod fakegpu"

# 2. The vendor loaded after the module: its files are checked at open.
rmmod nvsim || fail "rmmod nvsim"
dmesg -c >/dev/null
insmod $MODDIR/fakegpu.ko || fail "fakegpu without a vendor"
assert_eq "$(cat $F/driver)" "none" "sysfs driver before any vendor"
insmod $MODDIR/nvsim.ko branch=2 || fail "insmod nvsim branch=2 under fakegpu"
# An uncapped context: a cap is admitted against the card, which only
# a vendor fakegpu speaks to can report.
echo "b2 gpus=0" >$F/create || fail "create b2"
if sh -c 'exec 3<>/dev/fakegpu/b2/nvidiactl' 2>$W.err; then
    fail "an open of an unsupported vendor's file went through the proxy"
fi
grep -q "No such device or address" $W.err || fail "the refused open's error: $(cat $W.err)"
klog "vendor driver 'nvsim' version '590.44.01' has no ABI table in fakegpu (supported: 580.x, 550.x); the open is refused" ||
    fail "no per-open refusal in the kernel log: $(dmesg | tail -3)"
assert_eq "$(cat $F/driver)" "nvsim 590.44.01 unsupported" "sysfs driver after a refused open"
assert_eq "$(cat $F/contexts/b2/open_files)" 0 "open files after the refusal"
echo b2 >$F/destroy || fail "destroy b2"

# 3. Each supported branch: bound, reported, and its calls decoded with
#    its own table (nvrm through the proxy: the version handshake, and
#    FB_GET_INFO_V2, whose block is 444 bytes in 550 and 1028 in 580: the
#    RM refuses the other branch's size, and the proxy checks the vendor's).
for b in 1 0; do
    unload_modules || fail "unload"
    insmod $MODDIR/nvsim.ko branch=$b || fail "insmod nvsim branch=$b"
    insmod $MODDIR/fakegpu.ko || fail "fakegpu over branch $b"
    case $b in 1) v=550.163.01 br=550 ;; 0) v=580.159.04 br=580 ;; esac
    klog "vendor driver $v: ABI table of branch $br" || fail "no bind line for $v"
    assert_eq "$(cat $F/driver)" "nvidia $v $br" "sysfs driver at load ($v)"
    echo "b$b gpus=0 mem=256Mi" >$F/create || fail "create b$b"
    out=$(nvrm --dev /dev/fakegpu/b$b info -o json 2>&1) || fail "nvrm info through the proxy on $v: $out"
    echo "$v: $out"
    echo "$out" | grep -q "\"driver_version\":\"$v\"" || fail "$v: driver version: $out"
    echo "$out" | grep -q '"total":268435456,' || fail "$v: the cap is not the total FB_GET_INFO_V2 shows: $out"
    assert_eq "$(cat $F/driver)" "nvsim $v $br" "sysfs driver after an open ($v)"
    assert_eq "$(cat $F/contexts/b$b/unrouted)" "" "unrouted calls on $v"
    echo b$b >$F/destroy || fail "destroy b$b"
done
echo "ok"
