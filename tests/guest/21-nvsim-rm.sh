# nvsim's RM: each escape, statuses by name, ownership and fd checks,
# recursive free, close-frees-all, out-of-memory, dup, mapping, TSG
# controls, UVM registrations, and the calling-process check of mapping.
. /usr/lib/fakegpu/guest-lib.sh
grep -q '^nvsim ' /proc/modules || exit 77
heap=/sys/kernel/debug/nvsim/gpu0/heap
used() { sed -n 's/^used_bytes //p' $heap; }
run() { nvrm script - >/tmp/out 2>&1 || { cat /tmp/out; fail "script failed"; }; }
assert_eq "$(used)" 0 "heap empty at start"

# Versions, clients, device objects, memory info, allocation, free.
run <<'S'
open ctl /dev/nvidiactl
version ctl 1.2.3
expect EINVAL
version ctl
expect NV_OK
client c ctl
expect NV_OK
open gpuheld /dev/nvidia0
device d ctl $c $c 0
expect NV_OK
device d9 ctl $c $c 9
expect NV_ERR_INVALID_ARGUMENT
subdevice s ctl $c $d
expect NV_OK
meminfo ctl $c $s
expect NV_OK
alloc m ctl $c $d 0x40 size=1Mi
expect NV_OK
alloc m2 ctl $c $d 0x40 size=1Mi nvos21
expect NV_OK
free ctl $c $m
expect NV_OK
# A second free of the same handle: NV_OK, as the H100 answered
# (tests/fidelity/h100-580.159.04/sequence.txt).
free ctl $c $m
expect NV_OK
alloc x ctl $c $d 0xdead
expect NV_ERR_INVALID_CLASS
alloc x ctl $c $c 0x2080
expect NV_ERR_INVALID_OBJECT_PARENT
alloc x ctl $c $d 0x40 size=0
expect NV_ERR_INVALID_ARGUMENT
# As the H100 answers (tests/fidelity): a zero owner, a TSG of engine type NULL.
alloc x ctl $c $d 0x40 size=4096 owner=0
expect NV_ERR_INVALID_OWNER
alloc x ctl $c $d 0x40 size=0 owner=0
expect NV_ERR_INVALID_ARGUMENT
alloc x ctl $c $d 0xa06c
expect NV_ERR_INVALID_ARGUMENT
alloc x ctl $c $d 0x40 size=17Gi
expect NV_ERR_NO_MEMORY
control ctl $c $s 0x12345678 8
expect NV_ERR_NOT_SUPPORTED
control ctl $c $s 0x20801303 16
expect NV_ERR_INVALID_ARGUMENT
control ctl $c 0xbad 0x20801303 1028
expect NV_ERR_OBJECT_NOT_FOUND
# RM escapes are refused on a GPU file.
open g /dev/nvidia0
client x g
expect EINVAL
S
grep -q '^meminfo .* -> NV_OK' /tmp/out || fail "meminfo"
grep -q '^total 17179869184 heap 17179869184 free 17179869184' /tmp/out || { cat /tmp/out; fail "meminfo values"; }
# The process exited: closing its ctl file freed its client and memory.
assert_eq "$(used)" 0 "close frees all"

# Out of memory exactly at the heap size; recursive free returns it all.
run <<'S'
open ctl /dev/nvidiactl
client c ctl
open gpuheld /dev/nvidia0
device d ctl $c $c 0
subdevice s ctl $c $d
alloc big ctl $c $s 0x40 size=16Gi
expect NV_OK
alloc one ctl $c $d 0x40 size=4096
expect NV_ERR_NO_MEMORY
meminfo ctl $c $s
free ctl $c $big
expect NV_OK
alloc a ctl $c $s 0x40 size=1Gi
alloc b ctl $c $s 0x40 size=2Gi
tsg t ctl $c $d
free ctl $c $d
expect NV_OK
# Gone with their parent: freeing them again is NV_OK (as a second free on
# the H100), using them is not.
free ctl $c $s
expect NV_OK
free ctl $c $t
expect NV_OK
meminfo ctl $c $s
expect NV_ERR_OBJECT_NOT_FOUND
S
grep -q '^total 17179869184 heap 17179869184 free 0$' /tmp/out || { cat /tmp/out; fail "free 0 when full"; }
assert_eq "$(used)" 0 "recursive free"

# Ownership: a client belongs to the ctl file it was made on.
run <<'S'
open a /dev/nvidiactl
open b /dev/nvidiactl
client c a
open gpuheld /dev/nvidia0
device d b $c $c 0
expect NV_ERR_INVALID_CLIENT
free b $c $c
expect NV_ERR_INVALID_CLIENT
device d a $c $c 0
expect NV_OK
# A GPU file registered to ctl file a acts for a's clients (only once).
open g /dev/nvidia0
register g g
expect EINVAL
register g a
expect NV_OK
register g b
expect EINVAL
open h /dev/nvidia0
open n /dev/null
register h n
expect EINVAL
free a $c $c
expect NV_OK
free a $c $c
expect NV_ERR_INVALID_OBJECT_HANDLE
S

# Mapping: the fd must be nvsim's, of the right kind, one context per file.
run <<'S'
open ctl /dev/nvidiactl
client c ctl
open gpuheld /dev/nvidia0
device d ctl $c $c 0
subdevice s ctl $c $d
alloc m ctl $c $d 0x40 size=64Ki
open f /tmp/out
map x ctl $c $d $m 0 65536 f
expect NV_ERR_INVALID_ARGUMENT
map x ctl $c $d $m 0 65536 ctl
expect NV_ERR_INVALID_ARGUMENT
open g1 /dev/nvidia1
map x ctl $c $d $m 0 65536 g1
expect NV_ERR_INVALID_ARGUMENT
map x ctl $c $d $m 0 131072 g1
expect NV_ERR_INVALID_LIMIT
open g /dev/nvidia0
map cookie ctl $c $d $m 0 65536 g
expect NV_OK
map x ctl $c $d $m 0 65536 g
expect NV_ERR_STATE_IN_USE
mmap v g 4096
expect ENXIO
mmap v g 65536
expect NV_OK
write32 v 16 12345
read32 v 16
unmap ctl $c $d $m $cookie
expect NV_OK
unmap ctl $c $d $m $cookie
expect NV_ERR_INVALID_ARGUMENT
alloc sm ctl $c $d 0x3e size=8192
expect NV_OK
open c2 /dev/nvidiactl
map y ctl $c $d $sm 0 8192 c2
expect NV_OK
mmap w c2 8192
expect NV_OK
S
grep -qx 12345 /tmp/out || { cat /tmp/out; fail "mapped memory"; }

# Dup shares the memory: it stays charged until the last handle goes.
run <<'S'
open ctl /dev/nvidiactl
client c ctl
open gpuheld /dev/nvidia0
device d ctl $c $c 0
client c2 ctl
device d2 ctl $c2 $c2 0
alloc m ctl $c $d 0x40 size=1Gi
dup m2 ctl $c2 $d2 $c $m
expect NV_OK
dup m3 ctl $c2 $c2 $c $m
expect NV_ERR_INVALID_OBJECT_PARENT
dup m3 ctl $c2 $d2 $c 0xbad
expect NV_ERR_OBJECT_NOT_FOUND
free ctl $c $m
echo after-free-1
free ctl $c2 $m2
echo after-free-2
S
# (checked through debugfs around the script would race; check at the end)
assert_eq "$(used)" 0 "dup released"

# Channel-group controls: as on the H100, accepted.
run <<'S'
open ctl /dev/nvidiactl
client c ctl
open gpuheld /dev/nvidia0
device d ctl $c $c 0
subdevice s ctl $c $d
tsg t ctl $c $d
expect NV_OK
timeslice ctl $c $t
expect NV_OK
timeslice ctl $c $t 2000
expect NV_OK
timeslice ctl $c $t 0
expect NV_ERR_INVALID_ARGUMENT
control ctl $c $t 0xa06c0101 3
expect NV_OK
control ctl $c $t 0xa06c0105 8
expect NV_OK
control ctl $c $t 0xa06c0107 4
expect NV_OK
control ctl $c $t 0xa06c0106 4
expect NV_OK
control ctl $c $t 0xa06c0103 4
expect NV_ERR_INVALID_ARGUMENT
control ctl $c $s 0x2080110b 536
expect NV_OK
S
grep -q '^timeslice_us 1024$' /tmp/out || { cat /tmp/out; fail "default timeslice"; }
grep -q '^timeslice_us 2000$' /tmp/out || fail "set timeslice"

# UVM: initialize, MM_INITIALIZE, and registrations (rmCtrlFd not checked,
# the client must belong to the calling process).
run <<'S'
open ctl /dev/nvidiactl
client c ctl
open gpuheld /dev/nvidia0
device d ctl $c $c 0
subdevice s ctl $c $d
alloc va ctl $c $d 0x90f1
expect NV_OK
tsg t ctl $c $d
alloc m ctl $c $d 0x40 size=16Ki
channel ch ctl $c $t $m
expect NV_OK
open u /dev/nvidia-uvm
uvm-gpu u 0 ctl $c
expect NV_ERR_ILLEGAL_ACTION
uvm-init u
expect NV_OK
uvm-init u
expect NV_OK
open u2 /dev/nvidia-uvm
uvm-mm u2 ctl
expect NV_ERR_INVALID_ARGUMENT
uvm-mm u2 u
expect NV_OK
uvm-gpu u 0 12345 0xc1dbad
expect NV_OK
uvm-gpu u 0 ctl $c
expect NV_ERR_INVALID_DEVICE
uvm-channel u 0 ctl $c $ch
expect NV_ERR_INVALID_STATE
uvm-va u 0 ctl $c $m
expect NV_ERR_INVALID_OBJECT_HANDLE
uvm-va u 0 ctl $c $va
expect NV_OK
uvm-channel u 0 ctl $c $ch
expect NV_OK
S

# The calling-process checks: a client made by one process on a shared
# ctl file cannot be mapped by another. UVM_REGISTER_GPU does not look at
# the client without MIG (nvGpuOpsGetGpuInfo), so it succeeds.
exec 3<>/dev/nvidiactl
run <<'S'
adopt ctl 3
client c ctl 0xc1d0aaaa
open gpuheld /dev/nvidia0
device d ctl $c $c 0
alloc m ctl $c $d 0x40 size=64Ki handle=0x1234
S
run <<'S'
adopt ctl 3
alloc m2 ctl 0xc1d0aaaa 0xcaf00000 0x40 size=64Ki
expect NV_OK
open g /dev/nvidia0
map x ctl 0xc1d0aaaa 0xcaf00000 0x1234 0 65536 g
expect NV_ERR_INVALID_CLIENT
open u /dev/nvidia-uvm
uvm-init u
uvm-gpu u 0 ctl 0xc1d0aaaa
expect NV_OK
S
[ "$(used)" -gt 0 ] || fail "shared ctl file keeps its clients"
exec 3>&-
sleep 0.2
assert_eq "$(used)" 0 "closing the shared ctl file frees its clients"
