"""Probe: a sub-task of fixed work, for scalability (9.3.a) and long-job (9.4.2.b) checks.

Self-contained (``python -c <source>``), arguments as JSON in ``SCA_PROBE_ARGS``; prints
``sca-progress: X`` lines and ONE JSON line starting with ``{"probe": "paced"``.

``work: "compute"`` runs ``steps`` fp32 GEMMs of ``size``³ on the CPU. ``work: "paced"`` is
the work of a SIMULATED accelerator (what a platform whose cards are simulated can run):
each step is ``step_seconds`` of device time that advances only while this process is
running (a paused or throttled process makes no progress), without using the CPU, so that
the figure measures the platform's parallelism, not the host's core count.
"""

import json
import os
import time

ARGS = json.loads(os.environ.get("SCA_PROBE_ARGS") or "{}")
WORK = ARGS.get("work", "paced")
STEPS = int(ARGS.get("steps", 20))
STEP_SECONDS = float(ARGS.get("step_seconds", 0.05))
SIZE = int(ARGS.get("size", 256))
#: Epoch seconds at which the work starts (sub-tasks submitted one after another start
#: together); a probe launched later starts at once. At most MAX_WAIT seconds of waiting.
START_AT = ARGS.get("start_at")
MAX_WAIT = 120.0
SLICE = 0.005


def paced_step():
    """Advance STEP_SECONDS of device time, counting only slices this process really ran."""
    done = 0.0
    while done < STEP_SECONDS:
        start = time.perf_counter()
        time.sleep(SLICE)
        # A slice that took far longer than asked was spent stopped: it earns one slice only.
        done += min(time.perf_counter() - start, 2 * SLICE)


def main():
    if WORK == "compute":
        import numpy as np
        a = np.random.rand(SIZE, SIZE).astype(np.float32)

        def step():
            a @ a
    else:
        step = paced_step
    launched = time.time()
    if START_AT is not None:
        time.sleep(min(MAX_WAIT, max(0.0, float(START_AT) - launched)))
    started = time.time()
    begin = time.perf_counter()
    times = []
    for index in range(STEPS):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        print(f"sca-progress: {(index + 1) / STEPS:.3f}", flush=True)
    elapsed = time.perf_counter() - begin
    print(json.dumps({"probe": "paced", "work": WORK, "steps": STEPS,
                      "step_seconds": STEP_SECONDS if WORK == "paced" else None,
                      "size": SIZE if WORK == "compute" else None,
                      "simulated": WORK == "paced", "launched": launched,
                      "start_at": START_AT, "started": started, "finished": time.time(),
                      "seconds": elapsed, "steps_per_second": STEPS / elapsed,
                      "step_times": times}), flush=True)


if __name__ == "__main__":
    main()
