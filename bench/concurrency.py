"""Throughput and latency under N concurrent clients: easel (batching on/off) vs a naive server.

Three servers run side by side, each on a free 127.0.0.1 port:

- easel, batching on  (EASEL_JOBS__BATCHING=true, EASEL_JOBS__MAX_BATCH_SIZE=4)
- easel, batching off (EASEL_JOBS__BATCHING=false)
- naive: bench/naive_server.py, one FastAPI handler calling one diffusers
  pipeline under a global threading.Lock

For each N, N closed-loop clients (each sends its next request when the
last one answered) submit sandbox text-to-image requests to each server in
turn (one server busy at a time, the order rotating between levels), so a
drift in the machine's speed hits all three alike. Afterwards a probe checks
whether batched images equal unbatched ones pixel for pixel. Writes
bench/concurrency.md.

    .venv/bin/python bench/concurrency.py [--steps 10] [--requests 1:6,4:3,16:2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import harness as h
import httpx

EASEL_CLI = str(Path(h.PYTHON).parent / "easel")
EXTRA_ORGS = 3  # plus the bootstrap organization: 4 organizations, one key each
PROBE_SEEDS = (11, 22, 33, 44)
QUIET_BETWEEN = 20  # seconds to wait at most for idle CPUs before each level
ROUTE = f"/v1/generation/{h.ENGINE_ID}/text-to-image"


@dataclass(frozen=True)
class Config:
    name: str
    env: Mapping[str, str] | None  # easel settings; None means the naive server


CONFIGS = (
    Config(
        "easel batching on", {"EASEL_JOBS__BATCHING": "true", "EASEL_JOBS__MAX_BATCH_SIZE": "4"}
    ),
    Config("easel batching off", {"EASEL_JOBS__BATCHING": "false"}),
    Config("naive", None),
)


@dataclass
class Sample:
    seconds: float
    status: int
    key: str
    job_id: str | None
    png: bytes = b""


@dataclass
class Phase:
    config: str
    clients: int
    samples: list[Sample]
    wall: float
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def ok(self) -> list[float]:
        return [s.seconds for s in self.samples if s.status == 200]

    @property
    def failures(self) -> int:
        return len(self.samples) - len(self.ok)

    @property
    def images_per_second(self) -> float:
        return len(self.ok) / self.wall


@dataclass
class Probe:
    pngs: dict[int, bytes]
    batch_sizes: list[int]
    run_seconds: float  # the probe jobs' time inside the worker (job spans, merged)


@dataclass
class Outcome:
    phases: list[Phase] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    threads: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    noise: dict[str, float] = field(default_factory=dict)  # other processes' CPU share


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the benchmark ran over its --budget")
        return left


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--requests",
        default="1:6,4:3,16:2",
        help="clients:requests-per-client for each concurrency level",
    )
    parser.add_argument("--budget", type=float, default=720, help="seconds for the whole run")
    parser.add_argument("--models-dir", type=Path, default=h.DEFAULT_MODELS_DIR)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="seconds to wait at most for other processes to leave the CPUs idle first",
    )
    parser.add_argument("--output", type=Path, default=h.BENCH_DIR / "concurrency.md")
    args = parser.parse_args()
    args.plan = [tuple(int(x) for x in part.split(":")) for part in args.requests.split(",")]
    return args


# --------------------------------------------------------------------------- easel accounts


def admin(data_dir: Path, *argv: str) -> str:
    """One `easel admin` command against the server's data dir database; its stdout."""
    env = {**os.environ, "EASEL_SERVER__DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [EASEL_CLI, "admin", *argv],
        env=env,
        cwd=h.REPO_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"easel admin {' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def create_org_keys(data_dir: Path, count: int) -> list[str]:
    """`count` more organizations, each with its own user, credits and API key."""
    keys = []
    for i in range(1, count + 1):
        email = f"bench{i}@localhost"
        admin(data_dir, "user", "create", email)
        org = admin(data_dir, "org", "create", f"bench org {i}")
        admin(data_dir, "member", "add", email, org, "--role", "OWNER", "--default")
        admin(data_dir, "credits", "grant", org, "1000000", "--note", "benchmark")
        keys.append(admin(data_dir, "key", "create", email, "--name", "bench").splitlines()[-1])
    return keys


# --------------------------------------------------------------------------- clients


def http_client(connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10), limits=limits)


async def post(
    client: httpx.AsyncClient,
    url: str,
    key: str,
    body: dict[str, object],
    idempotency_key: str | None = None,
) -> Sample:
    headers = h.png_headers(key)
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    start = time.perf_counter()
    response = await client.post(url + ROUTE, json=body, headers=headers)
    seconds = time.perf_counter() - start
    job_id = response.headers.get("X-Generation-Id")
    png = response.content if response.status_code == 200 else b""
    if response.status_code != 200:
        print(f"  HTTP {response.status_code}: {response.text[:200]}")
    return Sample(seconds, response.status_code, key, job_id, png)


async def client_loop(
    client: httpx.AsyncClient, url: str, key: str, seeds: list[int], args: argparse.Namespace
) -> list[Sample]:
    """One closed-loop client: the next request goes out when the last one answered."""
    return [await post(client, url, key, _body(seed, args)) for seed in seeds]


async def run_phase(
    url: str,
    keys: list[str],
    clients: int,
    per_client: int,
    args: argparse.Namespace,
    timeout: float,
) -> tuple[list[Sample], float]:
    async with http_client(clients) as client:
        loops = [
            client_loop(client, url, keys[i % len(keys)], _seeds(clients, i, per_client), args)
            for i in range(clients)
        ]
        start = time.perf_counter()
        results = await asyncio.wait_for(asyncio.gather(*loops), timeout)
        wall = time.perf_counter() - start
    return [sample for samples in results for sample in samples], wall


def _body(seed: int, args: argparse.Namespace) -> dict[str, object]:
    return h.text_to_image_body(seed, args.steps, size=args.size)


def _seeds(clients: int, index: int, per_client: int) -> list[int]:
    # Distinct seeds, the same in every configuration.
    return [10_000 * clients + 100 * index + j for j in range(per_client)]


# --------------------------------------------------------------------------- easel's job timings


def _when(value: str) -> float:
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def job_spans(url: str, samples: list[Sample]) -> list[tuple[float, float]]:
    """(started, finished) of each sample's easel job (GET /v1/generations/{id})."""
    with_jobs = [s for s in samples if s.job_id and s.status == 200]
    async with http_client(8) as client:
        views = await asyncio.gather(
            *(
                client.get(f"{url}/v1/generations/{s.job_id}", headers=h.png_headers(s.key))
                for s in with_jobs
            )
        )
    jobs = [view.json() for view in views]
    return [(_when(j["started_at"]), _when(j["finished_at"])) for j in jobs]


def batches(spans: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Group jobs into the batches they ran in.

    With one worker, two jobs ran in the same pipeline call exactly when their
    running intervals overlap.
    """
    groups: list[list[tuple[float, float]]] = []
    end = float("-inf")
    for span in sorted(spans):
        if groups and span[0] < end:
            groups[-1].append(span)
            end = max(end, span[1])
        else:
            groups.append([span])
            end = span[1]
    return groups


def busy_seconds(spans: list[tuple[float, float]]) -> float:
    """Worker time the jobs took: each batch counted once, from first start to last finish."""
    return sum(max(s[1] for s in g) - min(s[0] for s in g) for g in batches(spans))


# --------------------------------------------------------------------------- bit-exactness probe


async def wait_running(client: httpx.AsyncClient, url: str, key: str, ref: str) -> None:
    """Poll an easel job (by idempotency key) until it runs; bounded."""
    for _ in range(600):
        response = await client.get(f"{url}/v1/generations/{ref}", headers=h.png_headers(key))
        if response.status_code == 200 and response.json()["status"] != "queued":
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"job {ref} did not start")


async def probe(url: str, keys: list[str], args: argparse.Namespace, *, easel: bool) -> Probe:
    """The same four identical-shape requests, sent at once.

    On easel a blocker job (another step count, so another batch key) runs first,
    so the four queue up behind it and, with batching on, run as one batch.
    """
    async with http_client(8) as client:
        blocker = None
        if easel:
            ref = f"bench-blocker-{uuid.uuid4()}"
            body = h.text_to_image_body(1, args.steps + 1, size=args.size)
            blocker = asyncio.create_task(post(client, url, keys[0], body, ref))
            await wait_running(client, url, keys[0], ref)
        samples = await asyncio.gather(
            *(
                post(client, url, keys[i % len(keys)], _body(seed, args))
                for i, seed in enumerate(PROBE_SEEDS)
            )
        )
        if blocker is not None:
            await blocker
    if any(s.status != 200 for s in samples):
        raise RuntimeError("a probe request failed")
    spans = await job_spans(url, list(samples)) if easel else []
    return Probe(
        pngs={seed: s.png for seed, s in zip(PROBE_SEEDS, samples, strict=True)},
        batch_sizes=[len(g) for g in batches(spans)],
        run_seconds=busy_seconds(spans),
    )


# --------------------------------------------------------------------------- configurations


async def warm_up(url: str, key: str, args: argparse.Namespace) -> None:
    """One request (loads the model); not counted."""
    async with http_client(1) as client:
        sample = await post(client, url, key, _body(1, args))
    if sample.status != 200:
        raise RuntimeError(f"warm-up failed with HTTP {sample.status}")


def start_servers(
    args: argparse.Namespace, work_dir: Path, stack: contextlib.ExitStack
) -> dict[str, h.Server]:
    """Every configuration's server, one after the other; `stack` stops them all."""
    servers = {}
    for config in CONFIGS:
        if config.env is None:
            server_cm = h.serve_naive(args.models_dir, work_dir)
        else:
            # Both easel servers use one data dir (one SQLite database, the same accounts);
            # each is idle while the other is measured.
            env = h.easel_env(args.models_dir, **config.env)
            server_cm = h.serve_easel(work_dir / "easel-data", env, work_dir)
        servers[config.name] = stack.enter_context(server_cm)
    return servers


def account_keys(servers: dict[str, h.Server], work_dir: Path) -> dict[str, list[str]]:
    """API keys per configuration: easel's bootstrap key plus one per extra organization."""
    bootstrap = next(s.api_key() for s in servers.values() if s.api_key())
    easel_keys = [bootstrap] + create_org_keys(work_dir / "easel-data", EXTRA_ORGS)
    return {c.name: easel_keys if c.env is not None else [""] for c in CONFIGS}


async def run_level(
    config: Config,
    url: str,
    keys: list[str],
    level: tuple[int, int],
    args: argparse.Namespace,
    deadline: Deadline,
) -> Phase:
    clients, per_client = level
    samples, wall = await run_phase(url, keys, clients, per_client, args, deadline.left())
    phase = Phase(config.name, clients, samples, wall)
    if config.env is not None:
        phase.batch_sizes = [len(g) for g in batches(await job_spans(url, samples))]
    print(
        f"{config.name:>20} N={clients:<3} {phase.images_per_second:.3f} img/s, "
        f"p50 {h.percentile(phase.ok, 50):.2f} s, p95 {h.percentile(phase.ok, 95):.2f} s"
    )
    return phase


async def exercise(
    servers: dict[str, h.Server],
    keys: dict[str, list[str]],
    args: argparse.Namespace,
    deadline: Deadline,
) -> Outcome:
    """Each level on every server in turn (rotating the order), then the probes."""
    outcome = Outcome()
    pids = [s.pid for s in servers.values()]
    for config in CONFIGS:
        await warm_up(servers[config.name].url, keys[config.name][0], args)
    for index, level in enumerate(args.plan):
        print(f"-- N={level[0]} ({h.wait_for_quiet(min(QUIET_BETWEEN, deadline.left()))})")
        meter = h.CpuMeter(pids)
        for config in CONFIGS[index % 3 :] + CONFIGS[: index % 3]:
            url, use = servers[config.name].url, keys[config.name]
            outcome.phases.append(await run_level(config, url, use, level, args, deadline))
        outcome.noise[f"N={level[0]}"] = meter.share()
    print("-- probes")
    meter = h.CpuMeter(pids)
    for config in CONFIGS:
        url, easel = servers[config.name].url, config.env is not None
        check = probe(url, keys[config.name], args, easel=easel)
        outcome.probes[config.name] = await asyncio.wait_for(check, deadline.left())
    outcome.noise["probes"] = meter.share()
    return outcome


def measure(args: argparse.Namespace, work_dir: Path) -> Outcome:
    deadline = Deadline(args.budget)
    with contextlib.ExitStack() as stack:
        servers = start_servers(args, work_dir, stack)
        outcome = asyncio.run(exercise(servers, account_keys(servers, work_dir), args, deadline))
        outcome.peak_rss_mib = {name: s.peak_rss_mib() for name, s in servers.items()}
    print(f"-- thread check ({h.wait_for_quiet(min(QUIET_BETWEEN, deadline.left()))})")
    meter = h.CpuMeter()
    outcome.threads = thread_check(args, deadline)
    outcome.noise["thread check"] = meter.share()
    return outcome


def thread_check(args: argparse.Namespace, deadline: Deadline) -> dict[str, list[dict[str, float]]]:
    """`naive_server.py --thread-check`: the naive pipeline on its loading thread vs another."""
    argv = [h.PYTHON, str(h.BENCH_DIR / "naive_server.py"), "--thread-check", str(args.steps)]
    argv += ["--models-dir", str(args.models_dir)]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=min(300, deadline.left()),
        env={**os.environ, **h.thread_env()},
        cwd=h.REPO_DIR,
    )
    if done.returncode != 0:
        raise RuntimeError(f"thread check failed: {done.stderr[-2000:]}")
    result: dict[str, list[dict[str, float]]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --------------------------------------------------------------------------- the report


def _phase(outcome: Outcome, config: str, clients: int) -> Phase:
    return next(p for p in outcome.phases if p.config == config and p.clients == clients)


def results_table(outcome: Outcome) -> str:
    rows = []
    order = {c.name: i for i, c in enumerate(CONFIGS)}
    for p in sorted(outcome.phases, key=lambda p: (order[p.config], p.clients)):
        batch = f"{len(p.ok) / len(p.batch_sizes):.2f}" if p.batch_sizes else "-"
        rows.append(
            [
                p.config,
                str(p.clients),
                str(len(p.samples)),
                str(p.failures),
                f"{p.wall:.1f}",
                f"{p.images_per_second:.3f}",
                f"{h.percentile(p.ok, 50):.2f}",
                f"{h.percentile(p.ok, 95):.2f}",
                batch,
            ]
        )
    header = ["server", "N clients", "requests", "failed", "wall (s)", "images/s"]
    header += ["p50 latency (s)", "p95 latency (s)", "mean batch size"]
    return h.table(header, rows)


def noise_line(outcome: Outcome) -> str:
    shares = ", ".join(f"{name} {100 * share:.0f}%" for name, share in outcome.noise.items())
    return (
        "Share of the machine's CPU used by other processes while each level ran (this machine "
        f"is shared; high values make those numbers slower and noisier): {shares}."
    )


def ratio_table(outcome: Outcome, args: argparse.Namespace) -> str:
    on, off, naive = (c.name for c in CONFIGS)
    rows = []
    for clients, _ in args.plan:
        a, b, n = (_phase(outcome, c, clients) for c in (on, off, naive))
        rows.append(
            [
                str(clients),
                _ratio(a.images_per_second, b.images_per_second),
                _ratio(h.percentile(a.ok, 50), h.percentile(b.ok, 50)),
                _ratio(h.percentile(a.ok, 95), h.percentile(b.ok, 95)),
                _ratio(a.images_per_second, n.images_per_second),
                _ratio(b.images_per_second, n.images_per_second),
                _ratio(h.percentile(a.ok, 50), h.percentile(n.ok, 50)),
                _ratio(h.percentile(b.ok, 50), h.percentile(n.ok, 50)),
            ]
        )
    header = ["N", "img/s on/off", "p50 on/off", "p95 on/off", "img/s on/naive"]
    header += ["img/s off/naive", "p50 on/naive", "p50 off/naive"]
    return h.table(header, rows)


def summary_section(outcome: Outcome, args: argparse.Namespace) -> str:
    on, off, naive = (c.name for c in CONFIGS)
    levels = [clients for clients, _ in args.plan]

    def ratios(a: str, b: str, metric: str) -> str:
        values = [
            _metric(_phase(outcome, a, n), metric) / _metric(_phase(outcome, b, n), metric)
            for n in levels
        ]
        return f"{min(values):.2f}-{max(values):.2f}"

    top = _phase(outcome, on, max(levels))
    batch = len(top.ok) / len(top.batch_sizes)
    probes = {name: outcome.probes[name] for name in (on, off, naive)}
    batched = max(_probe_diff(probes[on], probes[off], seed) for seed in PROBE_SEEDS)
    versus_naive = max(_probe_diff(probes[naive], probes[off], seed) for seed in PROBE_SEEDS)
    batched_text = "are identical to" if batched == 0 else f"differ by at most {batched}/255 from"
    naive_text = (
        "identical, pixel for pixel, to"
        if versus_naive == 0
        else f"at most {versus_naive}/255 away from"
    )
    floor = ""
    if 1 in levels:
        same = _phase(outcome, on, 1).images_per_second / _phase(outcome, off, 1).images_per_second
        floor = (
            f" At N=1 both run the same batches of one, so their images/s ratio ({same:.2f}) "
            "shows the run-to-run noise."
        )
    return f"""## Summary

- Batching on vs off (N = {", ".join(map(str, levels))}): images/s ratio \
{ratios(on, off, "ips")}, p50 latency ratio {ratios(on, off, "p50")}, p95 ratio \
{ratios(on, off, "p95")}. At N={max(levels)} batches held {batch:.2f} images on average.{floor}
- easel vs naive: images/s ratio {ratios(on, naive, "ips")} (batching on) and \
{ratios(off, naive, "ips")} (off); p50 latency ratio {ratios(on, naive, "p50")} (on) and \
{ratios(off, naive, "p50")} (off).
- {_batch_summary(probes[on], probes[off])}
- {_threads_summary(outcome)}
- Batched images {batched_text} unbatched ones; easel's unbatched images are {naive_text} \
the naive diffusers server's."""


def _batch_summary(batched: Probe, single: Probe) -> str:
    ratio = batched.run_seconds / single.run_seconds
    verdict = (
        "a batch costs about as much as its images run one by one"
        if ratio > 0.85
        else f"batching saved {100 * (1 - ratio):.0f}% of the worker time"
    )
    return (
        f"The probe's four images took {batched.run_seconds:.2f} s of worker time as one batch "
        f"vs {single.run_seconds:.2f} s one by one (ratio {ratio:.2f}): {verdict}."
    )


def _threads_summary(outcome: Outcome) -> str:
    def cell(name: str) -> str:
        runs = outcome.threads[name]
        wall = h.median([r["wall"] for r in runs])
        return f"{wall:.2f} s at {h.median([r['cores'] for r in runs]):.2f} cores busy"

    return (
        f"The naive pipeline takes {cell('loading thread')} on the thread that loaded it and "
        f"{cell('another thread')} on another thread, where the naive server's handler runs "
        "(see below)."
    )


def _metric(phase: Phase, metric: str) -> float:
    if metric == "ips":
        return phase.images_per_second
    return h.percentile(phase.ok, 50 if metric == "p50" else 95)


def _probe_diff(a: Probe, b: Probe, seed: int) -> int:
    return h.max_abs_diff(h.pixels(a.pngs[seed]), h.pixels(b.pngs[seed]))


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}"


def exactness_section(outcome: Outcome) -> str:
    on, off, naive = (outcome.probes[c.name] for c in CONFIGS)
    rows = []
    for seed in PROBE_SEEDS:
        a, b, n = (h.pixels(p.pngs[seed]) for p in (on, off, naive))
        differing = int((a != b).sum())
        rows.append(
            [
                str(seed),
                str(h.max_abs_diff(a, b)),
                f"{differing} ({100 * differing / a.size:.3f}%)",
                "yes" if on.pngs[seed] == off.pngs[seed] else "no",
                str(h.max_abs_diff(n, b)),
            ]
        )
    header = ["seed", "max abs diff on vs off (0-255)", "channel values differing"]
    header += ["PNG bytes equal", "max abs diff naive vs easel off"]
    return "\n\n".join(
        [
            "## Batched vs unbatched output (bit-exactness on CPU)",
            f"Four requests with seeds {', '.join(map(str, PROBE_SEEDS))} (same prompt, "
            "512x512, same steps), sent at once from four organizations to each server. On "
            "easel a blocker request (one more step, so a different batch key) runs first so "
            "the four queue behind it. Batches observed from the jobs' running intervals "
            f"(blocker excluded): batching on {on.batch_sizes}, batching off {off.batch_sizes}. "
            f"Worker time for the four: batching on {on.run_seconds:.2f} s, "
            f"batching off {off.run_seconds:.2f} s.",
            h.table(header, rows),
        ]
    )


def threads_section(outcome: Outcome) -> str:
    rows = [
        [
            name,
            ", ".join(f"{r['wall']:.2f}" for r in runs),
            ", ".join(f"{r['cores']:.2f}" for r in runs),
        ]
        for name, runs in outcome.threads.items()
    ]
    return "\n\n".join(
        [
            "## Why the naive server is slower per request",
            "The naive server loads its pipeline on the main thread at startup, and FastAPI runs "
            "the sync handler on AnyIO's thread pool, so every generation runs on a thread other "
            "than the one that first used torch. easel's worker thread both loads the model (on "
            "its first job) and runs every generation. `naive_server.py --thread-check` times the "
            "naive pipeline in one process (same steps, 512x512, 2 torch threads), after a "
            "warm-up on each thread:",
            h.table(["generation runs on", "wall (s)", "cores busy (CPU s / wall s)"], rows),
            "The likely mechanism: each native thread that enters torch's OpenMP (libgomp) "
            "parallel regions gets its own thread team; once there are more OpenMP threads than "
            "CPUs, libgomp stops spin-waiting between parallel regions, so its workers sleep and "
            "wake around every one of the thousands of small ops of this tiny model and the "
            "cores sit partly idle. Either way it is a cost of the naive pattern on CPU, not of "
            "HTTP.",
        ]
    )


def report(args: argparse.Namespace, facts: dict[str, str], outcome: Outcome, noise: str) -> str:
    memory = h.table(
        ["server", "peak RSS (MiB, VmHWM)"],
        [[name, f"{mib:.0f}"] for name, mib in outcome.peak_rss_mib.items()],
    )
    return "\n\n".join(
        [
            "# easel under concurrent load: batching on, batching off, and a naive server",
            "Generated by `bench/concurrency.py`; numbers are from the run described below.",
            summary_section(outcome, args),
            "## Machine\n\n"
            + h.facts_table(
                {
                    **facts,
                    "load average at end": h.load_average(),
                    "other processes during the run": noise,
                }
            ),
            _method(args),
            "## Results\n\n" + results_table(outcome) + "\n\n" + noise_line(outcome),
            "## Ratios\n\n"
            "Throughput ratios above 1 and latency ratios below 1 favour the first named.\n\n"
            + ratio_table(outcome, args),
            exactness_section(outcome),
            threads_section(outcome),
            "## Server memory\n\n" + memory + "\n\n" + _memory_note(),
        ]
    )


def _memory_note() -> str:
    return (
        "Peak RSS over the whole run (all levels and the probe). easel with batching "
        "on holds the activations of up to 4 images at once. The naive server ran its handler "
        "on up to 16 thread-pool threads; glibc gives each thread its own malloc arena, which "
        "keeps freed tensor memory, so its peak grows with the number of threads that ran a "
        "generation (in a manual check, `MALLOC_ARENA_MAX=1` on the naive server removed most "
        "of the growth)."
    )


def _method(args: argparse.Namespace) -> str:
    plan = ", ".join(f"N={c}: {c} x {r} = {c * r}" for c, r in args.plan)
    return f"""## Method

- Work: `POST /v1/generation/{h.ENGINE_ID}/text-to-image`, sandbox engine (tiny diffusers
  SD model), {args.size}x{args.size}, **{args.steps} steps** (reduced from the usual 30 so the
  whole run fits in minutes), cfg 7, default sampler (DPM-Solver++ 2M), one image per request,
  `Accept: image/png`, a distinct seed per request (the same seeds for every server).
- Clients: N closed-loop clients (each sends its next request when the previous one answered),
  all started together, sharing one httpx.AsyncClient. Requests per level ({plan} requests).
  Latency is measured by the client from send to the full PNG; images/s is successful images
  divided by the wall time from the first send to the last answer. p95 over so few samples is
  close to the maximum.
- The three servers are subprocesses on free 127.0.0.1 ports, started together, warmed up with
  one request each (model load), and stopped at the end. Each level runs against each server in
  turn, one server busy at a time (the others idle), the order rotating from level to level, so
  slow drifts in the machine's speed hit all three alike.
- easel: `easel serve`, SQLite in a temporary data dir, models from a shared
  `EASEL_ENGINE__MODELS_DIR`, `EASEL_RATE_LIMIT__ENABLED=false`, `EASEL_JOBS__WORKERS=1`
  (default). Batching on: `EASEL_JOBS__BATCHING=true`, `EASEL_JOBS__MAX_BATCH_SIZE=4`; off:
  `EASEL_JOBS__BATCHING=false`. **Per-organization running limit left at its default (2)**;
  instead the clients are spread over 4 organizations, each with its own user, API key and
  1,000,000 credits: the bootstrap organization (`EASEL_SERVER__BOOTSTRAP_CREDITS`) and 3 made
  with `easel admin` (`user create`, `org create`, `member add --default`, `credits grant`,
  `key create`) against the server's data-dir database. Client i uses key i mod 4, so a batch
  of 4 can fill from several organizations. Both easel servers share that data dir.
- naive: `bench/naive_server.py` under uvicorn: one sync FastAPI handler calling a diffusers
  `StableDiffusionPipeline` (the same tiny model files, DPM-Solver++ 2M) under a global
  `threading.Lock`, returning PNG bytes; no auth, no database, no queue.
- Every process runs torch with {h.TORCH_THREADS} threads (`OMP_NUM_THREADS`).
- "mean batch size" is images per pipeline call on easel, from the jobs' running intervals
  (`GET /v1/generations/{{id}}`): with one worker, jobs ran together exactly when their
  intervals overlap."""


def main() -> None:
    args = parse_args()
    facts = h.machine_facts(h.wait_for_quiet(args.quiet_wait))
    meter = h.CpuMeter()
    with tempfile.TemporaryDirectory(prefix="easel-concurrency-") as tmp:
        outcome = measure(args, Path(tmp))
    args.output.write_text(report(args, facts, outcome, meter.summary()) + "\n")
    print(f"wrote {args.output} after {meter.elapsed():.0f} s")


if __name__ == "__main__":
    main()
