# SPDX-License-Identifier: GPL-2.0-only
"""Compute-lever study on the H100 (docs/compute-levers.md).

Runs `leverwork` processes under the nvlever preload with a plan per process,
starts them together (each prints READY after CUDA init, then all get the same
start time), and measures from the GPU completion times of each kernel.

usage: python3 scripts/h100/levers.py BINDIR OUTDIR PHASE [PHASE...]
phases: smoke calib ts gate drain chan cost util bursty
Writes OUTDIR/<run>/{p<i>.txt, lever.log, stdout.txt} and OUTDIR/results.jsonl.
"""
import json, os, subprocess, sys, time

BIN, OUTDIR = sys.argv[1], sys.argv[2]
PHASES = sys.argv[3:]
os.makedirs(OUTDIR, exist_ok=True)
RES = open(os.path.join(OUTDIR, "results.jsonl"), "a")
ENV0 = dict(os.environ, NCCL_NVLS_ENABLE="0", TORCH_SYMM_MEM_DISABLE_MULTICAST="1", NVSHMEM_DISABLE_NVLS="1")
ITERS = {}  # kernel-us -> iters


def calibrate(us):
    if us not in ITERS:
        out = subprocess.run([f"{BIN}/leverwork", "--calibrate", str(us)], capture_output=True, text=True,
                             env=ENV0, timeout=60)
        ITERS[us] = int(out.stdout.split()[-1])
        print(f"calibrated {us} us -> iters {ITERS[us]}", flush=True)
    return ITERS[us]


def parse(path):
    hdr, rows = {}, []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                for kv in line[1:].split():
                    k, _, v = kv.partition("=")
                    hdr[k] = v
            else:
                a, b = line.split()
                rows.append((int(a) / 1e6, int(b) / 1e6))  # launch_ms, end_ms
    return hdr, rows


def run(name, procs, duration_ms=2000, window=(300, None), extra=None, timeout=60):
    """procs: list of dicts {kernel_us, depth, mode, env, args}. Returns result dict."""
    d = os.path.join(OUTDIR, name)
    os.makedirs(d, exist_ok=True)
    log = os.path.join(d, "lever.log")
    ps = []
    for i, p in enumerate(procs):
        env = dict(ENV0, NVLEVER_LOG=log, **p.get("env", {}))
        env["LD_PRELOAD"] = f"{BIN}/nvlever.so"
        dur = p.get("duration_ms", duration_ms)
        cmd = [f"{BIN}/leverwork", "--iters", str(calibrate(p.get("kernel_us", 1000))), "--depth",
               str(p.get("depth", 8)), "--mode", p.get("mode", "full"), "--duration-ms", str(dur),
               "--out", os.path.join(d, f"p{i}.txt"), "--tag", f"{name}/p{i}"] + p.get("args", [])
        ps.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env))
    outs = [[] for _ in ps]
    ok = True
    for i, p in enumerate(ps):
        while True:
            line = p.stdout.readline()
            if not line:
                ok = False
                break
            outs[i].append(line)
            if line.startswith("READY"):
                break
    start = time.time_ns() + 30_000_000
    for p in ps:
        try:
            p.stdin.write(f"{start}\n")
            p.stdin.flush()
        except BrokenPipeError:
            ok = False
    for i, p in enumerate(ps):
        try:
            rest, _ = p.communicate(timeout=timeout)
            outs[i].append(rest)
        except subprocess.TimeoutExpired:
            p.kill()
            outs[i].append("TIMEOUT\n")
            ok = False
    with open(os.path.join(d, "stdout.txt"), "w") as f:
        for i, o in enumerate(outs):
            f.write(f"--- p{i} rc={ps[i].returncode}\n" + "".join(o))
    res = {"run": name, "ok": ok and all(p.returncode == 0 for p in ps), "duration_ms": duration_ms,
           "procs": [{k: v for k, v in p.items() if k != "args"} | {"args": p.get("args", [])} for p in procs]}
    w0, w1 = window[0], window[1] if window[1] else min(p.get("duration_ms", duration_ms) for p in procs) - 100
    res["window_ms"] = [w0, w1]
    rates = []
    for i in range(len(procs)):
        try:
            hdr, rows = parse(os.path.join(d, f"p{i}.txt"))
        except Exception as e:  # noqa: BLE001
            rates.append(None)
            res.setdefault("errors", []).append(f"p{i}: {e}")
            continue
        n = sum(1 for _, e in rows if w0 <= e < w1)
        rate = n / ((w1 - w0) / 1000.0)
        rates.append(rate)
        res[f"p{i}_kernels_in_window"] = n
        res[f"p{i}_kernels_total"] = len(rows)
    res["rates_per_s"] = rates
    good = [r for r in rates if r is not None]
    if good and sum(good) > 0:
        res["shares"] = [round(r / sum(good), 4) if r is not None else None for r in rates]
    if extra:
        res.update(extra)
    RES.write(json.dumps(res) + "\n")
    RES.flush()
    print(json.dumps({k: res[k] for k in res if k not in ("procs",)}), flush=True)
    return res


def alone_rate(kernel_us, depth=8, mode="full", args=None):
    r = run(f"alone-k{kernel_us}-d{depth}-{mode}", [dict(kernel_us=kernel_us, depth=depth, mode=mode,
                                                         args=args or [])])
    return r["rates_per_s"][0]


def phase_smoke():
    run("smoke-alone", [dict(kernel_us=1000, depth=4, env={"NVLEVER_COST": "1"})], duration_ms=1000)
    run("smoke-ts-1-16", [dict(kernel_us=2000, env={"NVLEVER_TS_US": "1000"}),
                          dict(kernel_us=2000, env={"NVLEVER_TS_US": "16000"})], duration_ms=1500)
    run("smoke-gate-50-25", [dict(kernel_us=500, depth=2, env={"NVLEVER_GATE": "50,25"})], duration_ms=1500)
    run("smoke-drain-d16", [dict(kernel_us=1000, depth=16, env={"NVLEVER_EVENTS": "600:gate_close;1100:gate_open"})],
        duration_ms=1500)


def phase_ts():
    k = 2000
    base1 = alone_rate(k, 8)
    for n in (2, 4):
        run(f"ts-default-n{n}", [dict(kernel_us=k) for _ in range(n)], extra={"alone_rate": base1})
        for b in (250, 1000, 4000):
            for r in (1, 2, 4, 16):
                if n == 2:
                    sl = [b, b * r]
                else:
                    sl = [b, b, b, b * r]
                run(f"ts-n{n}-b{b}-r{r}", [dict(kernel_us=k, env={"NVLEVER_TS_US": str(s)}) for s in sl],
                    extra={"alone_rate": base1, "slices_us": sl})


def phase_bursty():
    k = 2000
    base = alone_rate(k, 8)
    for mode, burst in (("bursty", 1), ("bursty", 4)):
        for sl in ([1000, 4000], [250, 4000]):
            run(f"ts-bursty{burst}-{sl[0]}-{sl[1]}",
                [dict(kernel_us=k, mode=mode, args=["--burst", str(burst)], env={"NVLEVER_TS_US": str(s)})
                 for s in sl], extra={"alone_rate": base, "slices_us": sl})
    # long kernels
    base20 = alone_rate(20000, 4)
    run("ts-long20ms-1000-4000", [dict(kernel_us=20000, depth=4, env={"NVLEVER_TS_US": str(s)})
                                  for s in (1000, 4000)], duration_ms=3000, extra={"alone_rate": base20,
                                                                                    "slices_us": [1000, 4000]})


def phase_gate():
    k = 500
    base = alone_rate(k, 2)
    for p in (10, 50, 100):
        for frac in (0.1, 0.3, 0.5, 0.7, 0.9):
            x = max(1, round(p * frac))
            run(f"gate-p{p}-x{x}-d2", [dict(kernel_us=k, depth=2, env={"NVLEVER_GATE": f"{p},{x}"})],
                extra={"alone_rate": base, "duty": x / p})
    # deep queue: same duty, more work queued ahead
    base16 = alone_rate(2000, 16)
    for p in (50, 100):
        run(f"gate-p{p}-x{p // 2}-d16-k2000", [dict(kernel_us=2000, depth=16, env={"NVLEVER_GATE": f"{p},{p // 2}"})],
            extra={"alone_rate": base16, "duty": 0.5})
    # with an ungated competitor
    for frac in (0.25, 0.5, 0.75):
        x = round(50 * frac)
        run(f"gate-compete-p50-x{x}", [dict(kernel_us=k, depth=2, env={"NVLEVER_GATE": f"50,{x}"}),
                                       dict(kernel_us=k, depth=2)], extra={"alone_rate": base, "duty": x / 50})


def phase_drain():
    for depth in (1, 4, 16, 64):
        run(f"drain-d{depth}-k1000", [dict(kernel_us=1000, depth=depth,
                                           env={"NVLEVER_EVENTS": "800:gate_close;1600:gate_open"})],
            extra={"close_ms": 800, "open_ms": 1600})
    run("drain-d16-k1000-preempt", [dict(kernel_us=1000, depth=16,
                                         env={"NVLEVER_EVENTS": "800:gate_close;800:preempt;1600:gate_open"})],
        extra={"close_ms": 800, "open_ms": 1600})
    run("drain-d16-k1000-schedoff", [dict(kernel_us=1000, depth=16,
                                          env={"NVLEVER_EVENTS": "800:gate_close;800:sched_off;800:preempt;"
                                                                 "1600:sched_on;1600:gate_open"})],
        extra={"close_ms": 800, "open_ms": 1600})


def phase_chan():
    for act_on, act_off in (("dis_ch", "en_ch"), ("dis_ch_sched", "en_ch_sched"), ("ch_sched_off", "ch_sched_on"),
                            ("sched_off", "sched_on")):
        run(f"chan-{act_on}-d16", [dict(kernel_us=1000, depth=16,
                                        env={"NVLEVER_EVENTS": f"800:{act_on};1600:{act_off}"})],
            extra={"on_ms": 800, "off_ms": 1600})
    # two processes: disable one, does the other speed up?
    run("chan-dis_ch-compete", [dict(kernel_us=1000, depth=16, env={"NVLEVER_EVENTS": "800:dis_ch;1600:en_ch"}),
                                dict(kernel_us=1000, depth=16)], extra={"on_ms": 800, "off_ms": 1600})
    # last: stop_ch may break the channel for good
    run("chan-stop_ch-d16", [dict(kernel_us=1000, depth=16, env={"NVLEVER_EVENTS": "800:stop_ch"})],
        extra={"on_ms": 800}, timeout=20)


def phase_cost():
    run("cost-busy", [dict(kernel_us=2000, depth=8, env={"NVLEVER_COST": "1"})], duration_ms=1500)
    run("cost-idle", [dict(kernel_us=2000, depth=8, mode="bursty", args=["--burst", "1", "--sleep-ms", "500"],
                           env={"NVLEVER_COST": "1"})], duration_ms=1000)


def phase_util():
    d = os.path.join(OUTDIR, "util")
    os.makedirs(d, exist_ok=True)
    sampler = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "py", "nvml_sampler.py"),
                                "--seconds", "11", "--period-ms", "50", "--out", os.path.join(d, "nvml.jsonl")],
                               env=ENV0)
    pmon = subprocess.Popen(["nvidia-smi", "pmon", "-d", "1", "-s", "u", "-c", "11", "-o", "T"],
                            stdout=open(os.path.join(d, "pmon.txt"), "w"), stderr=subprocess.STDOUT, env=ENV0)
    time.sleep(0.5)
    # A: 8 s at slice 4 ms; B: 4 s at slice 16 ms (expected 1:4 while both run), both queue-full
    run("util-ab", [dict(kernel_us=2000, duration_ms=8000, env={"NVLEVER_TS_US": "4000"}),
                    dict(kernel_us=2000, duration_ms=4000, env={"NVLEVER_TS_US": "16000"})],
        duration_ms=8000, window=(300, 3900), timeout=60)
    sampler.wait(timeout=30)
    pmon.wait(timeout=30)


def phase_extra():
    """Second pass: long kernels (the first pass's 20 ms calibration overflowed) and STOP_CHANNEL with its 1-byte params."""
    base20 = alone_rate(20000, 4)
    for sl in ([1000, 4000], [250, 16000], [4000, 64000]):
        run(f"ts-long20ms-{sl[0]}-{sl[1]}", [dict(kernel_us=20000, depth=4, env={"NVLEVER_TS_US": str(s)})
                                             for s in sl], duration_ms=3000, extra={"alone_rate": base20,
                                                                                     "slices_us": sl})
    run("chan-dis_ch-k20000-d4", [dict(kernel_us=20000, depth=4, env={"NVLEVER_EVENTS": "800:dis_ch;1600:en_ch"})],
        duration_ms=2500, extra={"on_ms": 800, "off_ms": 1600})
    run("drain-d4-k20000-preempt", [dict(kernel_us=20000, depth=4,
                                         env={"NVLEVER_EVENTS": "800:gate_close;800:preempt;1600:gate_open"})],
        duration_ms=2500, extra={"close_ms": 800, "open_ms": 1600})
    run("chan-stop_ch1-d16", [dict(kernel_us=1000, depth=16, env={"NVLEVER_EVENTS": "800:stop_ch"})],
        extra={"on_ms": 800}, timeout=20)


for ph in PHASES:
    t0 = time.time()
    print(f"=== phase {ph}", flush=True)
    try:
        globals()[f"phase_{ph}"]()
    except Exception as e:  # noqa: BLE001
        print(f"phase {ph} failed: {e!r}", flush=True)
    print(f"=== phase {ph} took {time.time() - t0:.1f}s", flush=True)
