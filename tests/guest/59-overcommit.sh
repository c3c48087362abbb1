# Caps that sum past the card are refused (issue 18 §2): the memory caps of
# the contexts on a GPU may sum to its memory (nvsim's heap total) times
# the overcommit ratio (sysfs overcommit, default 1.00), their compute caps
# to 100 % times it; an uncapped context reserves nothing. A create past it
# fails with ENOSPC and leaves nothing; raising a cap past it fails and
# leaves the cap; a context over two GPUs counts its cap on both. Sizes are
# taken relative to what other contexts already reserve on GPU 0.
. /usr/lib/fakegpu/guest-lib.sh
[ -d /sys/kernel/debug/nvsim ] || { echo "nvsim not loaded"; exit 77; }
F=/sys/kernel/fakegpu
M=1048576
NOCAP=18446744073709551615
err() { sh -c "echo '$1' >$2" 2>&1 | grep -q "No space left on device"; }
total() { awk '/^total_bytes/ {print $2}' /sys/kernel/debug/nvsim/gpu$1/heap; }
# What the contexts on GPU $1 reserve: memory (bytes) or compute (%).
reserved() {
    s=0
    for d in $F/contexts/*/; do
        [ -d "$d" ] || continue
        case ",$(cat $d/gpus)," in *",$1,"*) ;; *) continue ;; esac
        if [ "$2" = mem ]; then
            m=$(cat $d/mem_limit_bytes); [ "$m" = $NOCAP ] || s=$((s + m))
        else
            c=$(cat $d/compute_limit_pct); [ "$c" -ge 100 ] || s=$((s + c))
        fi
    done
    echo $s
}
assert_eq "$(cat $F/overcommit)" "1.00" "default ratio"
for bad in 0.5 0 x 1.255 100.5 -1; do
    if echo "$bad" >$F/overcommit 2>/dev/null; then fail "overcommit took '$bad'"; fi
done
assert_eq "$(cat $F/overcommit)" "1.00" "a refused write changed the ratio"
room=$(( ($(total 0) - $(reserved 0 mem)) / M ))
croom=$(( 100 - $(reserved 0 compute) ))
room1=$(( ($(total 1) - $(reserved 1 mem)) / M ))
echo "GPU 0: $room MiB and $croom % not reserved; GPU 1: $room1 MiB"
[ $room -ge 1024 ] && [ $croom -ge 20 ] && [ $room1 -ge 1024 ] || fail "other contexts reserve the GPUs: $(ls $F/contexts)"
a=$((room / 2)); b=$((room - a))
echo "a gpus=0 mem=${a}M compute=$((croom - 10))" >$F/create || fail "create a"
echo "b gpus=0 mem=${b}M" >$F/create || fail "create b (the rest of GPU 0)"
err "c gpus=0 mem=1M" $F/create || fail "c past the card's memory was not refused with ENOSPC"
assert_no_file $F/contexts/c
err "c gpus=0,1 mem=1M" $F/create || fail "c over GPUs 0 and 1 was not refused (its cap counts on GPU 0)"
echo "c gpus=1 mem=${room1}M" >$F/create || fail "create c on GPU 1"
echo "d gpus=0" >$F/create || fail "an uncapped context was refused"
err "e gpus=0 compute=11" $F/create || fail "compute caps past 100 % were not refused"
echo "e gpus=0 compute=10" >$F/create || fail "create e (100 % in all)"
# Raising a cap past the card: refused, the cap stays.
err "$(( (b + 1) * M ))" $F/contexts/b/mem_limit_bytes || fail "raising b's cap past the card was not refused"
assert_eq "$(cat $F/contexts/b/mem_limit_bytes)" "$((b * M))" "b's cap after the refusal"
err 11 $F/contexts/e/compute_limit_pct || fail "raising e's compute past 100 % was not refused"
assert_eq "$(cat $F/contexts/e/compute_limit_pct)" 10 "e's compute after the refusal"
echo $(( (b - 1) * M )) >$F/contexts/b/mem_limit_bytes || fail "lowering a cap was refused"
# A larger ratio admits more: 1.5 x the card.
echo 1.5 >$F/overcommit || fail "set 1.5"
assert_eq "$(cat $F/overcommit)" "1.50" "ratio"
half=$(( $(total 0) / 2 / M + 1 ))
echo "f gpus=0 mem=${half}M" >$F/create || fail "f at 1.5"
err "g gpus=0 mem=$(( $(total 0) / 2 / M ))M" $F/create || fail "g past 1.5 x the card was not refused"
echo 1 >$F/overcommit
for c in a b c d e f; do echo $c >$F/destroy || fail "destroy $c"; done
