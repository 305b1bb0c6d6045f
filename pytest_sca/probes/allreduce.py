"""Probe: all-reduce between the ranks of a job: bandwidth over message sizes, or a check
that the ranks really communicate.

Self-contained (``python -c <source>``), arguments as JSON in ``SCA_PROBE_ARGS``; every rank
runs it with ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set (as platforms
set them for distributed jobs).

- ``"mode": "bandwidth"`` (the default): rank 0 prints ONE JSON line starting with
  ``{"probe": "allreduce"``: per size, the median time, algbw = S/t and busbw = algbw ×
  2(n−1)/n (nccl-tests' definitions).
- ``"mode": "verify"``: rank r contributes ``values[r]``; EVERY rank prints one JSON line
  with the sum it received (``sum``), its ``rank`` and ``world_size``, the ``library`` used,
  and the variables named in ``env`` as it saw them. ``timeout_s`` bounds the rendezvous;
  ``linger_s`` keeps every rank (and so the job) running that long after it printed.

torch.distributed when torch is importable (nccl on CUDA, gloo on CPU; hccl/cncl when the
vendor's torch backend is present; the verify mode always uses gloo on CPU tensors);
otherwise a TCP all-reduce (reduce to rank 0, then broadcast) over the same address, whose
figures say ``"library": "tcp"``.
"""

import importlib
import json
import os
import socket
import statistics
import struct
import time

ARGS = json.loads(os.environ.get("SCA_PROBE_ARGS") or "{}")
SIZES = ARGS.get("sizes") or [2**10, 2**16, 2**20]
ITERATIONS = int(ARGS.get("iterations", 5))
BACKEND = ARGS.get("backend", "auto")
MODE = ARGS.get("mode", "bandwidth")
TIMEOUT = float(ARGS.get("timeout_s", 60))
#: Verify mode: seconds each rank stays after printing its sum (its job still running), so
#: that the platform's record of the running job can be read.
LINGER = float(ARGS.get("linger_s", 0))
RANK = int(os.environ.get("RANK", "0"))
WORLD = int(os.environ.get("WORLD_SIZE", "1"))
ADDRESS = (os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ.get("MASTER_PORT", "29500")))


def receive(sock, count):
    chunks, left = [], count
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("peer closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def tcp_peers():
    """Rank 0: sockets to every other rank; the others: one socket to rank 0."""
    deadline = time.monotonic() + TIMEOUT
    if RANK == 0:
        server = socket.create_server(ADDRESS, reuse_port=False)
        server.settimeout(TIMEOUT)
        peers = [None] * WORLD
        for _ in range(WORLD - 1):
            conn, _ = server.accept()
            peers[struct.unpack("!I", receive(conn, 4))[0]] = conn
        server.close()
        return peers
    while True:
        try:
            conn = socket.create_connection(ADDRESS, timeout=TIMEOUT)
            conn.sendall(struct.pack("!I", RANK))
            return [conn]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def tcp_allreduce(peers, data):
    """Sum float32 buffers of every rank (bytes in, bytes out): reduce to 0, broadcast."""
    if WORLD == 1:
        return data
    if RANK == 0:
        try:
            import numpy as np
        except ImportError:
            np = None
        if np is not None:
            total = np.frombuffer(data, dtype=np.float32).copy()
            for conn in peers[1:]:
                total += np.frombuffer(receive(conn, len(data)), dtype=np.float32)
            out = total.tobytes()
        else:
            import array
            summed = array.array("f", data)
            for conn in peers[1:]:
                for i, value in enumerate(array.array("f", receive(conn, len(data)))):
                    summed[i] += value
            out = summed.tobytes()
        for conn in peers[1:]:
            conn.sendall(out)
        return out
    peers[0].sendall(data)
    return receive(peers[0], len(data))


def load_torch():
    """torch when the arguments allow it and it is importable, else None."""
    if BACKEND not in ("auto", "torch"):
        return None
    try:
        return importlib.import_module("torch")
    except ImportError:
        if BACKEND == "torch":
            raise
    return None


def verify():
    """Every rank contributes ``values[rank]`` and prints the sum it got back (``null`` and
    the ``error`` when the all-reduce failed: the line still says what the rank saw)."""
    value = float(ARGS["values"][RANK])
    seen = {name: os.environ.get(name) for name in ARGS.get("env") or ()}
    total, library, error = None, "tcp", None
    try:
        torch = load_torch()
        if torch is not None:
            import datetime

            import torch.distributed as dist

            library = f"torch {torch.__version__} gloo"
            dist.init_process_group("gloo", rank=RANK, world_size=WORLD,
                                    timeout=datetime.timedelta(seconds=TIMEOUT))
            tensor = torch.tensor([value], dtype=torch.float64)
            dist.all_reduce(tensor)
            total = float(tensor.item())
            dist.destroy_process_group()
        else:
            peers = tcp_peers() if WORLD > 1 else [None]
            # float32, as the TCP path sums: integer values up to 2**24 stay exact.
            total = float(struct.unpack("f", tcp_allreduce(peers, struct.pack("f", value)))[0])
            for conn in peers:
                if conn is not None:
                    conn.close()
    except Exception as exc:  # noqa: BLE001 - reported in the result line, then exit 1
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"probe": "allreduce", "mode": "verify", "rank": RANK,
                      "world_size": WORLD, "value": value, "sum": total, "library": library,
                      "env": seen, "error": error}), flush=True)
    if error is not None:
        raise SystemExit(1)
    time.sleep(LINGER)


def main():
    if MODE == "verify":
        verify()
        return
    torch = load_torch()
    results = []
    if torch is not None:
        import torch.distributed as dist

        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if device == "cuda" else "gloo", rank=RANK,
                                world_size=WORLD)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        library = f"torch {torch.__version__} {dist.get_backend()}"
        for size in SIZES:
            buffer = torch.ones(size // 4, dtype=torch.float32, device=device)
            dist.all_reduce(buffer)
            sync()
            times = []
            for _ in range(ITERATIONS):
                dist.barrier()
                start = time.perf_counter()
                dist.all_reduce(buffer)
                sync()
                times.append(time.perf_counter() - start)
            results.append((size, times))
        dist.destroy_process_group()
    else:
        device, library = "cpu", "tcp"
        peers = tcp_peers()
        for size in SIZES:
            data = struct.pack(f"{size // 4}f", *([1.0] * (size // 4)))
            check = tcp_allreduce(peers, data)
            if struct.unpack("f", check[:4])[0] != float(WORLD):
                raise RuntimeError("all-reduce gave a wrong sum")
            times = []
            for _ in range(ITERATIONS):
                start = time.perf_counter()
                tcp_allreduce(peers, data)
                times.append(time.perf_counter() - start)
            results.append((size, times))
        for conn in peers:
            if conn is not None:
                conn.close()
    if RANK != 0:
        return
    factor = 2 * (WORLD - 1) / WORLD
    rows = []
    for size, times in results:
        median = statistics.median(times)
        rows.append({"bytes": size, "median_s": median, "best_s": min(times),
                     "algbw_gbps": size / median / 1e9,
                     "busbw_gbps": size / median / 1e9 * factor})
    print(json.dumps({"probe": "allreduce", "library": library, "device_type": device,
                      "world_size": WORLD, "iterations": ITERATIONS, "bus_factor": factor,
                      "results": rows}), flush=True)


if __name__ == "__main__":
    main()
