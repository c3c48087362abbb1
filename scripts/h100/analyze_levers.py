# SPDX-License-Identifier: GPL-2.0-only
"""Derived numbers for docs/compute-levers.md from the raw lever outputs.

usage: python3 scripts/h100/analyze_levers.py LEVERS_DIR...   (extracted tests/levers/*/pass*.tar.xz)
Prints drain / stop / resume latencies and the NVML utilization comparison."""
import glob, json, os, re, sys


def parse(path):
    hdr, rows = {}, []
    for line in open(path):
        if line.startswith("#"):
            hdr = dict(kv.split("=", 1) for kv in line[1:].split() if "=" in kv)
        else:
            a, b = line.split()
            rows.append((int(a) / 1e6, int(b) / 1e6))
    return hdr, rows


def events(d):
    ev = []
    for line in open(os.path.join(d, "lever.log")):
        m = re.search(r" (event|ctl) (\S+).* t0=(\d+)", line)
        if m:
            ev.append((m.group(2), int(m.group(3))))
    return ev


def first_t(ev, name):
    ts = [t for n, t in ev if n == name]
    return min(ts) if ts else None


for root in sys.argv[1:]:
    for d in sorted(glob.glob(os.path.join(root, "*"))):
        run = os.path.basename(d)
        p0 = os.path.join(d, "p0.txt")
        if not os.path.exists(p0) or not (run.startswith("drain") or run.startswith("chan")):
            continue
        hdr, rows = parse(p0)
        start = int(hdr["start"])
        ev = events(d)
        on_name = {"drain": "gate_close"}.get(run.split("-")[0])
        names = [n for n, _ in ev]
        on = next((n for n in ("gate_close", "disable_channels", "sched_off", "ch_sched_off", "stop_ch") if n in names), None)
        off = next((n for n in ("gate_open", "sched_on", "ch_sched_on") if n in names), None)
        t_on = (first_t(ev, on) - start) / 1e6 if on else None
        if on == "disable_channels":
            ts = sorted(t for n, t in ev if n == "disable_channels")
            t_on, t_off = (ts[0] - start) / 1e6, (ts[1] - start) / 1e6 if len(ts) > 1 else None
        else:
            t_off = (first_t(ev, off) - start) / 1e6 if off else None
        ends = sorted(e for _, e in rows)
        if t_on is None:
            continue
        before = [e for e in ends if e < t_on]
        gap = (t_on - before[-1]) if before else None
        during = [e for e in ends if t_on <= e < (t_off or 1e9)]
        last_during = during[-1] - t_on if during else 0.0
        after = [e for e in ends if t_off and e >= t_off]
        resume = (after[0] - t_off) if after else None
        # kernel time alone from the steady part before the event
        ks = [b - a for a, b in zip(before[-50:], before[-49:])]
        k = sorted(ks)[len(ks) // 2] if ks else None
        print(json.dumps({"run": run, "lever": on, "t_on_ms": round(t_on, 1), "t_off_ms": round(t_off, 1) if t_off else None,
                          "kernel_ms": round(k, 3) if k else None, "completions_after_on": len(during),
                          "last_completion_after_on_ms": round(last_during, 2),
                          "first_completion_after_off_ms": round(resume, 2) if resume is not None else None,
                          "depth": hdr.get("depth")}))
    u = os.path.join(root, "util")
    if os.path.isdir(u):
        a_hdr, a_rows = parse(os.path.join(root, "util-ab", "p0.txt"))
        b_hdr, b_rows = parse(os.path.join(root, "util-ab", "p1.txt"))
        start = int(a_hdr["start"])
        pa, pb = int(a_hdr["pid"]), int(b_hdr["pid"])
        b_last = max(e for _, e in b_rows)
        samples = []
        for line in open(os.path.join(u, "nvml.jsonl")):
            r = json.loads(line)
            for p in r.get("proc", []):
                samples.append(((p["ts_us"] * 1000 - start) / 1e6, p["pid"], p["sm"], (r["real_ns"] - start) / 1e6))
        def avg(pid, lo, hi):
            v = [s for t, p, s, _ in samples if p == pid and lo <= t < hi]
            return (round(sum(v) / len(v), 1), len(v)) if v else (None, 0)
        ts_a = sorted(t for t, p, _, _ in samples if p == pa)
        gaps = sorted(b - a for a, b in zip(ts_a, ts_a[1:]))
        lag = [round(rt - t, 1) for t, p, s, rt in samples][:0]
        b_after = [(round(t, 1), s) for t, p, s, _ in samples if p == pb and t > b_last - 500][:8]
        a_after = [(round(t, 1), s) for t, p, s, _ in samples if p == pa and b_last - 500 < t < b_last + 2500][:12]
        delays = sorted(rt - t for t, p, s, rt in samples)
        print(json.dumps({"util": True, "true_share_a_b_while_both": "see results util-ab shares", "b_last_completion_ms": round(b_last, 1),
                          "nvml_sm_avg_a_0.5-3.5s": avg(pa, 500, 3500), "nvml_sm_avg_b_0.5-3.5s": avg(pb, 500, 3500),
                          "nvml_sm_avg_a_5-7.5s": avg(pa, 5000, 7500),
                          "sample_spacing_ms_median": round(gaps[len(gaps) // 2], 1) if gaps else None,
                          "sample_delivery_delay_ms_median": round(delays[len(delays) // 2], 1) if delays else None,
                          "b_samples_around_stop": b_after, "a_samples_around_b_stop": a_after}))
