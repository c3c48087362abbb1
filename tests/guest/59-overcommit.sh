# Caps that sum past the card are refused (issue 18 §2): the memory caps of
# the contexts on a GPU may sum to its memory (nvsim: 16 GiB) times the
# overcommit ratio (sysfs overcommit, default 1.00), their compute caps to
# 100 % times it; an uncapped context reserves nothing. A create past it
# fails with ENOSPC and leaves nothing; raising a cap past it fails and
# leaves the cap; a context over two GPUs counts its cap on both.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
G=1073741824
err() { sh -c "echo '$1' >$2" 2>&1 | grep -q "No space left on device"; }
assert_eq "$(cat $F/overcommit)" "1.00" "default ratio"
for bad in 0.5 0 x 1.255 100.5 -1; do
    if echo "$bad" >$F/overcommit 2>/dev/null; then fail "overcommit took '$bad'"; fi
done
assert_eq "$(cat $F/overcommit)" "1.00" "a refused write changed the ratio"
echo "a gpus=0 mem=10G compute=60" >$F/create || fail "create a"
echo "b gpus=0 mem=6G" >$F/create || fail "create b (16 GiB in all)"
err "c gpus=0 mem=1M" $F/create || fail "c past the card's memory was not refused with ENOSPC"
assert_no_file $F/contexts/c
err "c gpus=0,1 mem=1G" $F/create || fail "c over GPUs 0 and 1 was not refused (its cap counts on GPU 0)"
echo "c gpus=1 mem=16G compute=40" >$F/create || fail "create c on GPU 1"
echo "d gpus=0" >$F/create || fail "an uncapped context was refused"
err "e gpus=0 compute=41" $F/create || fail "compute caps past 100 % were not refused"
echo "e gpus=0 compute=40" >$F/create || fail "create e (100 % in all)"
# Raising a cap past the card: refused, the cap stays.
err "$((6 * G + 1))" $F/contexts/b/mem_limit_bytes || fail "raising b's cap past the card was not refused"
assert_eq "$(cat $F/contexts/b/mem_limit_bytes)" "$((6 * G))" "b's cap after the refusal"
err 61 $F/contexts/e/compute_limit_pct || fail "raising e's compute past 100 % was not refused"
assert_eq "$(cat $F/contexts/e/compute_limit_pct)" 40 "e's compute after the refusal"
echo $((4 * G)) >$F/contexts/b/mem_limit_bytes || fail "lowering a cap was refused"
# A larger ratio admits more.
echo 1.5 >$F/overcommit || fail "set 1.5"
assert_eq "$(cat $F/overcommit)" "1.50" "ratio"
echo "f gpus=0 mem=10G compute=50" >$F/create || fail "f at 1.5 (24 of 24 GiB, 150 %)"
err "g gpus=0 mem=1M" $F/create || fail "g past 1.5 x the card was not refused"
echo 1 >$F/overcommit
for c in a b c d e f; do echo $c >$F/destroy || fail "destroy $c"; done
