"""Shared helpers for the benchmarks: servers on loopback, machine facts, statistics.

Every server is a subprocess listening on 127.0.0.1 only, started through
`Server` (a context manager) so it is stopped on exit, also on error.
"""

from __future__ import annotations

import io
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PYTHON = sys.executable
ENGINE_ID = "stable-diffusion-v1-6"
PROMPT = "a lighthouse on a cliff at dusk"
# One torch thread count for every process (servers, direct calls), as easel sets none.
TORCH_THREADS = 2
DEFAULT_MODELS_DIR = Path(tempfile.gettempdir()) / "easel-bench-models"
KEY_LINE = re.compile(r"API key \(shown once, keep it safe\): (sk-\S+)")


# --------------------------------------------------------------------------- environment


def thread_env(threads: int = TORCH_THREADS) -> dict[str, str]:
    """Variables that pin torch's intra-op thread pool (read when torch starts)."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def pin_torch_threads(threads: int = TORCH_THREADS) -> None:
    """Pin this process's torch threads (call before any torch work)."""
    os.environ.update(thread_env(threads))
    import torch

    torch.set_num_threads(threads)


def easel_env(models_dir: Path, **settings: str) -> dict[str, str]:
    """Environment for an `easel serve` benchmark process (rate limit off, shared models)."""
    return {
        **thread_env(),
        "EASEL_ENGINE__MODELS_DIR": str(models_dir),
        "EASEL_RATE_LIMIT__ENABLED": "false",
        "EASEL_SERVER__BOOTSTRAP_CREDITS": "1000000",
        "EASEL_SERVER__LOG_LEVEL": "warning",
        **settings,
    }


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api_key(self) -> str:
        """The key an easel server printed on its first start ('' if none)."""
        match = KEY_LINE.search(self.log())
        return match.group(1) if match else ""

    def peak_rss_mib(self, *, with_children: bool = False) -> float:
        """The process's RSS high-water mark (VmHWM), in MiB; summed with its children's."""
        pids = [self.pid, *(children(self.pid) if with_children else [])]
        return sum(vm_hwm_kib(pid) for pid in pids) / 1024


@contextmanager
def serve(
    argv: list[str],
    *,
    port: int,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    health_path: str = "/healthz",
    timeout: float = 120,
) -> Iterator[Server]:
    """Run `argv` (a server on 127.0.0.1:`port`) until the block ends, whatever happens."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("wb") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            argv, stdout=log_file, stderr=subprocess.STDOUT, env=full_env, cwd=REPO_DIR
        )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        _wait_healthy(server, health_path, timeout)
        yield server
    finally:
        stop(process)


def serve_easel(
    data_dir: Path, env: Mapping[str, str], log_dir: Path
) -> AbstractContextManager[Server]:
    """`easel serve` on a free loopback port with `data_dir` (a context manager)."""
    port = free_port()
    argv = [PYTHON, "-m", "easel.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--data-dir", str(data_dir)]
    return serve(argv, port=port, log_path=log_dir / f"easel-{port}.log", env=env)


def serve_naive(models_dir: Path, log_dir: Path) -> AbstractContextManager[Server]:
    """bench/naive_server.py on a free loopback port (a context manager)."""
    port = free_port()
    argv = [PYTHON, str(BENCH_DIR / "naive_server.py"), "--port", str(port)]
    argv += ["--models-dir", str(models_dir)]
    return serve(argv, port=port, log_path=log_dir / f"naive-{port}.log", env=thread_env())


def _wait_healthy(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()[-4000:]}")
        try:
            if httpx.get(server.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not answer within {timeout:.0f} s:\n{server.log()[-4000:]}")


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Terminate one process we started (SIGTERM, then SIGKILL)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


# --------------------------------------------------------------------------- requests


def text_to_image_body(seed: int, steps: int, *, size: int = 512) -> dict[str, object]:
    return {
        "text_prompts": [{"text": PROMPT, "weight": 1}],
        "width": size,
        "height": size,
        "steps": steps,
        "cfg_scale": 7,
        "samples": 1,
        "seed": seed,
    }


def png_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "image/png", "Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def check_png(response: httpx.Response) -> None:
    """Raise with the server's error body unless `response` is a 200 PNG."""
    kind = response.headers.get("content-type", "")
    if response.status_code != 200 or kind != "image/png":
        raise RuntimeError(f"HTTP {response.status_code} ({kind}): {response.text[:500]}")


def pixels(png: bytes) -> np.ndarray:
    """Decoded RGB pixels of a PNG, as int16 so differences do not wrap."""
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a - b).max())


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- reports


def machine_facts(quiet: str) -> dict[str, str]:
    """What a reader needs to compare these numbers with theirs."""
    import diffusers
    import torch

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu count (os.cpu_count)": str(os.cpu_count()),
        "cpu model": _cpu_model(),
        "torch threads (every process)": f"{TORCH_THREADS} (OMP_NUM_THREADS / set_num_threads)",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "platform": platform.platform(),
        "load average at start (1/5/15 min)": load_average(),
        "CPUs before start": quiet,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def facts_table(facts: Mapping[str, str]) -> str:
    rows = [f"| {name} | {value} |" for name, value in facts.items()]
    return "\n".join(["| fact | value |", "|---|---|", *rows])


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


class CpuMeter:
    """CPU seconds the whole machine spent busy, and how much of it was not ours.

    "Ours" is this process, its children that have been waited for (every
    server is waited for when it stops), and the running processes `live_pids`
    (read before they stop). On a shared machine it says how much other work
    competed with the benchmark.
    """

    def __init__(self, live_pids: Sequence[int] = ()) -> None:
        self._pids = tuple(live_pids)  # our running servers (not yet waited for)
        self._busy = _machine_cpu_seconds()[0]
        self._ours = self._our_seconds()
        self._wall = time.monotonic()

    def _our_seconds(self) -> float:
        return _our_cpu_seconds() + sum(process_cpu_seconds(pid) for pid in self._pids)

    def foreign_seconds(self) -> float:
        busy = _machine_cpu_seconds()[0] - self._busy
        ours = self._our_seconds() - self._ours
        return max(0.0, busy - ours)

    def elapsed(self) -> float:
        return time.monotonic() - self._wall

    def share(self) -> float:
        """Fraction of the machine's CPU capacity other processes used so far."""
        return self.foreign_seconds() / (self.elapsed() * (os.cpu_count() or 1))

    def summary(self) -> str:
        return (
            f"{self.foreign_seconds():.0f} CPU-s by other processes over {self.elapsed():.0f} s "
            f"({100 * self.share():.0f}% of the machine)"
        )


def wait_for_quiet(max_wait: float, busy_below: float = 0.15, sample: float = 3.0) -> str:
    """Wait, at most `max_wait` s, until the CPUs are mostly idle; says how that went."""
    start = time.monotonic()
    while True:
        busy = _busy_fraction(sample)
        waited = time.monotonic() - start
        if busy < busy_below:
            return f"{100 * busy:.0f}% busy after waiting {waited:.0f} s"
        if waited >= max_wait:
            return f"still {100 * busy:.0f}% busy after waiting {waited:.0f} s (ran anyway)"
        print(f"machine {100 * busy:.0f}% busy (other processes); waiting for it to settle")


def _busy_fraction(seconds: float) -> float:
    busy0, total0 = _machine_cpu_seconds()
    time.sleep(seconds)
    busy1, total1 = _machine_cpu_seconds()
    return (busy1 - busy0) / max(total1 - total0, 1e-9)


def _machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    tick = os.sysconf("SC_CLK_TCK")
    return busy / tick, (busy + idle + iowait) / tick


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (an easel server's worker processes)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a running process and of its live children (its workers)."""
    return sum(process_cpu_seconds(p) for p in [pid, *children(pid)])


def _our_cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())
