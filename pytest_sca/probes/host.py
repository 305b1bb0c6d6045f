"""What the shipped probes share about the host they run on, shipped inside each of them.

A probe travels as ``python -c <source>``: it can import nothing of pytest-sca on the
target. A probe imports :func:`cpu_info` from here with a line marked ``# sca: inline``;
:func:`pytest_sca.probes.source` replaces that line with this file's source, so the probe
file stays a valid module here (linted, tested) and self-contained where it runs.
Standard library only.
"""

import os
import platform

#: The CPU flags the peak computation reads (vector width, FMA) and those the GEMM probe
#: reports for bf16.
CPU_FLAGS = ("avx512f", "avx2", "avx", "fma", "sse2", "amx_bf16", "avx512_bf16")


def cpu_info():
    """The CPU this process computes on: vendor, model, vector flags, clock (GHz; cpufreq's
    maximum where the kernel has it, else /proc/cpuinfo's) and the cores it may use."""
    info = {"kind": "cpu", "vendor": platform.processor() or platform.machine(),
            "model": None, "count": 1, "flags": [], "clock_ghz": None}
    try:
        with open("/proc/cpuinfo") as handle:
            text = handle.read()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and info["model"] is None:
            info["model"] = value
        elif key == "vendor_id":
            info["vendor"] = value
        elif key == "cpu MHz" and info["clock_ghz"] is None:
            info["clock_ghz"] = round(float(value) / 1000.0, 3)
        elif key == "flags" and not info["flags"]:
            info["flags"] = [f for f in value.split() if f in CPU_FLAGS]
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as handle:
            info["clock_ghz"] = round(int(handle.read()) / 1e6, 3)
    except (OSError, ValueError):
        pass
    info["cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count()
    return info
