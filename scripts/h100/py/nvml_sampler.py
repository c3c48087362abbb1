# SPDX-License-Identifier: GPL-2.0-only
"""Sample what the driver reports as per-process utilization (NVML, the source of
`nvidia-smi pmon`), every --period-ms, for --seconds. Writes JSON lines."""
import argparse, json, time
import pynvml as N

ap = argparse.ArgumentParser()
ap.add_argument("--seconds", type=float, default=8)
ap.add_argument("--period-ms", type=float, default=100)
ap.add_argument("--out", required=True)
a = ap.parse_args()
N.nvmlInit()
h = N.nvmlDeviceGetHandleByIndex(0)
last = 0
end = time.time() + a.seconds
with open(a.out, "w") as f:
    while time.time() < end:
        now = time.time_ns()
        rec = {"real_ns": now}
        try:
            u = N.nvmlDeviceGetUtilizationRates(h)
            rec["dev_gpu"] = u.gpu
        except N.NVMLError as e:
            rec["dev_err"] = str(e)
        try:
            samples = N.nvmlDeviceGetProcessUtilization(h, last)
            rec["proc"] = [{"pid": s.pid, "ts_us": s.timeStamp, "sm": s.smUtil, "mem": s.memUtil} for s in samples]
            if samples:
                last = max(s.timeStamp for s in samples)
        except N.NVMLError as e:
            rec["proc_err"] = str(e)
        f.write(json.dumps(rec) + "\n")
        time.sleep(max(0, a.period_ms / 1000 - (time.time_ns() - now) / 1e9))
