# fakegpuctl against the real module and nvsim: every subcommand, JSON
# output checked against sysfs, bad input (unknown GPU, bad quantity,
# duplicate name, out-of-range compute) gives the documented exit code and
# changes nothing, CDI specs, the metrics exposition.
. /usr/lib/fakegpu/guest-lib.sh
set -e
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
# Whatever the outcome, no process or context of this test outlives it
# (a holder left behind would hold memory into the next test).
leave_nothing() {
    rc=$?
    for c in $F/contexts/t*; do
        [ -d "$c" ] || continue
        p=$(cat $c/pids); [ -n "$p" ] && kill $p 2>/dev/null
        n=0; while [ -n "$(cat $c/pids)" ] && [ $n -lt 50 ]; do n=$((n + 1)); sleep 0.1; done
        echo "${c##*/}" >$F/destroy 2>/dev/null || true
    done
    exit $rc
}
trap leave_nothing EXIT
MiB=1048576
export FAKEGPU_CDI_DIR=/tmp/cdi
rm -rf /tmp/cdi

# expect RC CMD...: runs CMD, output in /tmp/out and /tmp/err; its exit
# status must be RC.
expect() {
    want=$1; shift
    set +e; "$@" >/tmp/out 2>/tmp/err; rc=$?; set -e
    [ "$rc" = "$want" ] || { cat /tmp/out /tmp/err; fail "$*: exit $rc, want $want"; }
}
# jget KEY [FILE]: the value of the first "KEY": VALUE line of pretty JSON.
jget() {
    sed -n "s/^ *\"$1\": \(.*\)\$/\1/p" "${2:-/tmp/out}" | head -1 | sed 's/,$//; s/^"\(.*\)"$/\1/'
}
contexts() { ls $F/contexts | tr '\n' ' '; }

# Contexts other tests may have left (they are not ours to remove).
initial=$(contexts)

# --- version, help ---------------------------------------------------------
expect 0 fakegpuctl version -o json
grep -q '"schema_version": 1' /tmp/out || fail "no schema_version"
assert_eq "$(jget module)" "$(cat $F/version)" "module version"
expect 0 fakegpuctl --help
grep -q "EXIT CODES" /tmp/out || fail "no exit codes in --help"
expect 0 fakegpuctl create --help
grep -q -- "--compute PCT" /tmp/out || fail "create --help"
expect 2 fakegpuctl frobnicate

# --- gpus: nvsim's GPUs through nvrm -----------------------------------------
expect 0 fakegpuctl gpus -o json
ngpus=$(grep -c '"uuid": "GPU-' /tmp/out)
[ "$ngpus" -ge 2 ] || { cat /tmp/out; fail "gpus: $ngpus GPUs, nvsim has 2"; }
nvrm info -o json >/tmp/nvrm.json
uuid0=$(sed 's/.*"index":0,"name":"[^"]*","uuid":"\([^"]*\)".*/\1/' /tmp/nvrm.json)
grep -q "\"uuid\": \"$uuid0\"" /tmp/out || { cat /tmp/out; fail "gpus does not show GPU 0's UUID $uuid0"; }
total0=$(sed 's/.*"index":0,[^}]*"total":\([0-9]*\).*/\1/' /tmp/nvrm.json)
assert_eq "$(jget mem_total_bytes)" "$total0" "GPU 0 memory"
expect 0 fakegpuctl gpus
grep -q "^0 " /tmp/out || fail "gpus table"

# --- create, list, inspect -----------------------------------------------------
expect 0 fakegpuctl create t1 --gpus 0 --mem 1Gi -o json
assert_eq "$(cat $F/contexts/t1/mem_limit_bytes)" "1073741824"
assert_eq "$(jget mem_limit_bytes)" "1073741824" "create's JSON"
assert_eq "$(jget name)" "t1"
# 1G is 2^30 bytes in fakegpuctl as in the module (one parser: the core's).
expect 0 fakegpuctl create t2 --gpus 1,0 --mem 1G
assert_eq "$(cat $F/contexts/t2/mem_limit_bytes)" "1073741824" "1G"
assert_eq "$(cat $F/contexts/t2/gpus)" "1,0"
assert_file /dev/fakegpu/t2/nvidia1
expect 0 fakegpuctl list --json
assert_eq "$(grep -c '"name": "t[12]"' /tmp/out)" "2" "contexts in list"
# gpus: the contexts on each GPU and the sum of their caps (GPU 0 first).
if [ -z "$initial" ]; then
    expect 0 fakegpuctl gpus -o json
    assert_eq "$(jget mem_limits_sum_bytes)" "$((1073741824 + 1073741824))" "caps on GPU 0"
    sed -n '/"index": 0,/,/"index": 1,/p' /tmp/out | tr -d ' \n' | grep -q '"contexts":\["t1","t2"\]' || { cat /tmp/out; fail "contexts of GPU 0"; }
fi
expect 0 fakegpuctl list
grep -q "^t1 .*1 GiB" /tmp/out || { cat /tmp/out; fail "list table"; }

in_container t1 nvrm alloc 300Mi --hold 60 >/dev/null &
holder=$!
i=0; while [ "$(cat $F/contexts/t1/mem_used_bytes)" != "$((300*MiB))" ]; do
    i=$((i+1)); [ $i -lt 200 ] || fail "holder did not allocate"; sleep 0.1; done
expect 0 fakegpuctl inspect t1 -o json
assert_eq "$(jget mem_used_bytes)" "$((300*MiB))" "inspect used"
assert_eq "$(jget mem_peak_bytes)" "$((300*MiB))" "inspect peak"
assert_eq "$(jget open_files)" "$(cat $F/contexts/t1/open_files)"
pid=$(head -1 $F/contexts/t1/pids)
grep -q "^ *$pid,\?\$" /tmp/out || { cat /tmp/out; fail "inspect does not list pid $pid"; }
assert_eq "$(jget cdi_device)" "fakegpu.io/vgpu=t1"
expect 0 fakegpuctl inspect t1 -o yaml
grep -q "^  mem_used_bytes: $((300*MiB))" /tmp/out || { cat /tmp/out; fail "yaml"; }
expect 4 fakegpuctl inspect nope

# --- top (non-interactive) -----------------------------------------------------
expect 0 fakegpuctl top --iterations 2 --interval 0.2
assert_eq "$(grep -c '^t1 .*300 MiB' /tmp/out)" "2" "top rows"
expect 0 fakegpuctl top --once -o json
grep -q '"iteration":1' /tmp/out || fail "top json"

# --- metrics ------------------------------------------------------------------
# A real scrape over HTTP on the VM's loopback (Prometheus's GET /metrics),
# then the same text from `metrics --once`.
ip link set lo up
fakegpuctl metrics --listen 127.0.0.1:19455 --max-requests 2 >/tmp/srv.out 2>&1 & srv=$!
i=0; until wget -q -O /tmp/scrape http://127.0.0.1:19455/metrics 2>/dev/null; do
    i=$((i+1)); [ $i -lt 50 ] || { cat /tmp/srv.out; fail "no metrics server on 127.0.0.1:19455"; }; sleep 0.1
done
wget -q -O /tmp/notfound http://127.0.0.1:19455/other 2>/dev/null && fail "a path other than /metrics answered"
wait $srv || fail "metrics server did not end after --max-requests"
expect 0 fakegpuctl metrics --once
grep -v '^#' /tmp/out >/tmp/once.samples; grep -v '^#' /tmp/scrape >/tmp/http.samples
cmp -s /tmp/once.samples /tmp/http.samples || { diff /tmp/once.samples /tmp/http.samples; fail "HTTP scrape and --once differ"; }
# (No pod-resources socket here: the pod labels are empty, docs/metrics.md.)
pods='namespace="",pod="",container=""'
grep -q "^fakegpu_vgpu_memory_used_bytes{vgpu=\"t1\",gpu=\"0\",UUID=\"$uuid0\",$pods} $((300*MiB))\$" /tmp/scrape || { cat /tmp/scrape; fail "scrape: t1 used"; }
grep -q "^fakegpu_vgpu_memory_limit_bytes{vgpu=\"t2\",gpu=\"1,0\",UUID=\"GPU-[^\"]*,$uuid0\",$pods} 1073741824\$" /tmp/scrape || { cat /tmp/scrape; fail "scrape: t2 limit"; }
grep -q "^fakegpu_vgpu_memory_peak_bytes{vgpu=\"t1\",.*} $((300*MiB))\$" /tmp/scrape || fail "scrape: t1 peak"
grep -q '^# TYPE fakegpu_vgpu_alloc_refused_total counter$' /tmp/scrape || fail "scrape: TYPE"
grep -q '^# HELP fakegpu_vgpu_memory_used_bytes ' /tmp/scrape || fail "scrape: HELP"
grep -q "^fakegpu_build_info{version=\"[0-9.]*\",module_version=\"$(cat $F/version)\"} 1\$" /tmp/scrape || fail "scrape: build_info"
# Every sample line is NAME{LABELS} NUMBER.
if grep -v '^#' /tmp/scrape | grep -v -E '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [0-9.e+-]+$'; then fail "malformed sample lines"; fi
# An address that cannot be bound: a clear error.
expect 1 fakegpuctl metrics --listen 192.0.2.1:19455
grep -q "cannot listen on 192.0.2.1:19455" /tmp/err || { cat /tmp/err; fail "listen error message"; }
# Done with the holder: end it (its pid is in sysfs) and wait for it.
kill $(cat $F/contexts/t1/pids)
wait $holder || true

# --- update ------------------------------------------------------------------
expect 0 fakegpuctl update t1 --mem 2Gi -o json
assert_eq "$(cat $F/contexts/t1/mem_limit_bytes)" "2147483648"
assert_eq "$(jget mem_limit_bytes)" "2147483648"

# --- bad input: documented exit code, nothing changed --------------------------
before=$(contexts)
expect 4 fakegpuctl create t3 --gpus 7 --mem 1Gi
grep -q "does not exist" /tmp/err || { cat /tmp/err; fail "unknown GPU message"; }
expect 2 fakegpuctl create t3 --mem 1.5Gi
grep -q "bad quantity" /tmp/err || fail "bad quantity message"
# What the module refuses, fakegpuctl refuses before writing (same parser).
expect 2 fakegpuctl create t3 --gpus 0,0
expect 5 fakegpuctl create t1 --mem 1Gi
expect 2 fakegpuctl create t3 --compute 101
expect 2 fakegpuctl create 'bad name'
expect 2 fakegpuctl update t1 --compute 0
expect 2 fakegpuctl update t1 --mem 12XB
expect 4 fakegpuctl update nope --mem 1Gi
expect 4 fakegpuctl delete nope
# Without CAP_SYS_ADMIN (a user namespace): permission denied, exit 6.
if unshare -U true 2>/dev/null; then
    expect 6 unshare -U fakegpuctl create t3 --mem 1Gi
    grep -q "hint: run as root" /tmp/err || { cat /tmp/err; fail "permission hint"; }
    expect 6 unshare -U fakegpuctl delete t1
else
    echo "note: no user namespaces in this kernel: permission errors not checked"
fi
assert_eq "$(contexts)" "$before" "contexts after bad input"
assert_eq "$(cat $F/contexts/t1/mem_limit_bytes)" "2147483648" "t1's cap after bad input"

# --- compute (when the module has it) ---------------------------------------------
if [ -e $F/contexts/t1/compute_limit_pct ]; then
    expect 0 fakegpuctl create t4 --mem 1Gi --compute 30 --weight 2 --priority high -o json
    assert_eq "$(cat $F/contexts/t4/compute_limit_pct)" "30"
    assert_eq "$(cat $F/contexts/t4/compute_weight)" "2"
    assert_eq "$(cat $F/contexts/t4/priority)" "high"
    assert_eq "$(jget compute_limit_pct)" "30"
    expect 0 fakegpuctl update t4 --compute 70 --priority normal
    assert_eq "$(cat $F/contexts/t4/compute_limit_pct)" "70"
    assert_eq "$(cat $F/contexts/t4/priority)" "normal"
    expect 0 fakegpuctl delete t4
else
    echo "note: this module has no compute scheduling; checking the refusal"
    expect 7 fakegpuctl create t4 --mem 1Gi --compute 30
    grep -q "no compute scheduling" /tmp/err || { cat /tmp/err; fail "compute refusal message"; }
    expect 7 fakegpuctl update t1 --mem 3Gi --weight 2
    assert_eq "$(cat $F/contexts/t1/mem_limit_bytes)" "2147483648" "update half-done"
    expect 0 fakegpuctl list
    grep -q "^t1 .* - " /tmp/out || { cat /tmp/out; fail "no '-' for compute"; }
fi
assert_eq "$(contexts)" "$before" "contexts after the compute checks"

# --- CDI -------------------------------------------------------------------------
expect 0 fakegpuctl cdi generate t2
spec=/tmp/cdi/fakegpu.io-vgpu_t2.json
assert_file $spec
grep -q '"kind": "fakegpu.io/vgpu"' $spec || fail "kind"
grep -q '"cdiVersion": "0.5.0"' $spec || fail "cdiVersion"
grep -q '"name": "t2"' $spec || fail "device name"
cdi_check_nodes $spec t2 nvidiactl nvidia0 nvidia1 nvidia-uvm
ls -a /tmp/cdi | grep -q tmp && fail "temporary file left"
expect 0 fakegpuctl cdi generate t2 --stdout
grep -q '"path": "/dev/fakegpu/t2/nvidia1"' /tmp/out || grep -q '"hostPath": "/dev/fakegpu/t2/nvidia1"' /tmp/out || fail "cdi --stdout"
expect 4 fakegpuctl cdi generate nope

# create --cdi; delete removes the spec.
expect 0 fakegpuctl create t5 --mem 256Mi --cdi
assert_file /tmp/cdi/fakegpu.io-vgpu_t5.json
grep -q "fakegpu.io/vgpu=t5" /tmp/out || fail "create --cdi output"
expect 0 fakegpuctl delete t5
assert_no_file /tmp/cdi/fakegpu.io-vgpu_t5.json
assert_no_file $F/contexts/t5
# A CDI write that fails takes the context back.
: >/tmp/notadir
expect 11 fakegpuctl --cdi-dir /tmp/notadir create t6 --mem 256Mi --cdi
assert_no_file $F/contexts/t6
assert_no_file /dev/fakegpu/t6

# --- doctor --------------------------------------------------------------------
expect 0 fakegpuctl doctor -o json
grep -q '"ok": true' /tmp/out || { cat /tmp/out; fail "doctor not ok"; }
expect 0 fakegpuctl doctor
grep -q "^\[ok  \] driver .*580\." /tmp/out || { cat /tmp/out; fail "doctor driver line"; }
expect 10 fakegpuctl --vendor-dev /tmp doctor
grep -q '^\[fail\] driver' /tmp/out || { cat /tmp/out; fail "doctor without a driver"; }

# --- delete ------------------------------------------------------------------------
expect 0 fakegpuctl delete t2 -o json
grep -q '"cdi_spec_removed": true' /tmp/out || fail "delete json"
assert_no_file $spec
assert_no_file /dev/fakegpu/t2
expect 0 fakegpuctl rm t1
assert_eq "$(contexts)" "$initial" "contexts at the end"
if [ -z "$initial" ]; then
    expect 0 fakegpuctl list -o json
    grep -q '"contexts": \[\]' /tmp/out || { cat /tmp/out; fail "empty list"; }
fi
echo "fakegpuctl: all subcommands checked"
