"""Latency of a non-generating, authenticated endpoint under 16 concurrent clients.

For each database (SQLite, PostgreSQL) and each client kind (16 threads in one
process, 16 processes), a fresh `easel serve` starts on a free 127.0.0.1 port
and 16 fresh API keys are made (never used, so `last_used_at` is empty: the
case that used to write inside authentication). The 16 clients wait on a
barrier, then each sends `--requests` closed-loop `GET /v1/user/balance` with
its own key over its own connection; the first request of each client (the
first burst: new connection, first use of the key) is reported separately
and is also in the totals. `/healthz` (no auth, no database) under the same
load is the floor. Writes bench/auth_concurrency.md.

    .venv/bin/python bench/auth_concurrency.py [--requests 50]
        [--variant before=/path/to/old/src] [--variant after=src]

`--variant NAME=SRC` runs the servers with PYTHONPATH=SRC, to compare trees.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import platform
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness as h
import httpx

CLIENTS = 16
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
ROUTE = "/v1/user/balance"


@dataclass
class Result:
    variant: str
    database: str
    clients: str
    route: str
    latencies_ms: list[float]  # every request
    first_ms: list[float]  # each client's first request
    errors: int
    seconds: float

    def row(self) -> list[str]:
        total = self.latencies_ms
        return [
            self.variant,
            self.database,
            self.clients,
            self.route,
            str(len(total)),
            f"{len(total) / self.seconds:.0f}",
            f"{h.percentile(total, 50):.1f}",
            f"{h.percentile(total, 99):.1f}",
            f"{max(total):.1f}",
            f"{h.percentile(self.first_ms, 50):.1f}",
            f"{max(self.first_ms):.1f}",
            str(self.errors),
        ]


def one_client(url: str, key: str, route: str, requests: int, barrier: Any) -> list[float]:
    """Latencies (ms) of `requests` sequential GETs, or -1 for a non-200 answer."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    latencies = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        barrier.wait()
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(route)
            elapsed = (time.perf_counter() - started) * 1000
            latencies.append(elapsed if response.status_code == 200 else -1.0)
    return latencies


def _process_client(url: str, key: str, route: str, n: int, barrier: Any, queue: Any) -> None:
    # The fork inherits the bench's heap (easel, SQLAlchemy, psycopg: imported to make
    # keys). Without this, all 16 clients ran their first full collection over it at
    # the same request, copying its pages on write: a 1.3-1.8 s pause of every client
    # that the server never saw (its own histogram had every request under 0.5 s).
    gc.freeze()
    queue.put(one_client(url, key, route, n, barrier))


def run_threads(url: str, keys: list[str], route: str, requests: int) -> list[list[float]]:
    barrier = threading.Barrier(len(keys))
    results: list[list[float]] = [[] for _ in keys]

    def work(index: int) -> None:
        results[index] = one_client(url, keys[index], route, requests, barrier)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def run_processes(url: str, keys: list[str], route: str, requests: int) -> list[list[float]]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(keys))
    queue = ctx.Queue()
    processes = [
        ctx.Process(target=_process_client, args=(url, key, route, requests, barrier, queue))
        for key in keys
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    return results


RUNNERS: dict[str, Callable[[str, list[str], str, int], list[list[float]]]] = {
    f"{CLIENTS} threads": run_threads,
    f"{CLIENTS} processes": run_processes,
}


def measure(
    variant: str, database: str, clients: str, url: str, keys: list[str], route: str, n: int
) -> Result:
    started = time.perf_counter()
    per_client = RUNNERS[clients](url, keys, route, n)
    seconds = time.perf_counter() - started
    ok = [[x for x in c if x >= 0] for c in per_client]
    return Result(
        variant=variant,
        database=database,
        clients=clients,
        route=route,
        latencies_ms=[x for c in ok for x in c],
        first_ms=[c[0] for c in per_client if c and c[0] >= 0],
        errors=sum(1 for c in per_client for x in c if x < 0),
        seconds=seconds,
    )


@contextmanager
def database_url(kind: str, data_dir: Path) -> Iterator[str]:
    """A fresh, empty database of `kind`, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'easel.db'}"
        return
    import psycopg

    name = f"easel_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fresh_keys(db_url: str, count: int) -> list[str]:
    """`count` new keys of the bootstrap user, made directly in the server's database."""
    from easel.accounts.service import AccountsService
    from easel.db.engine import Database

    db = Database(db_url)
    try:
        accounts = AccountsService(db)
        user = accounts.list_keys()[0].user_id
        return [accounts.create_key(user, name=f"bench-{i}").secret for i in range(count)]
    finally:
        db.dispose()


def run(variants: dict[str, str], requests: int) -> list[Result]:
    results = []
    for variant, src in variants.items():
        for database in ("sqlite", "postgres"):
            for clients in RUNNERS:
                with (
                    tempfile.TemporaryDirectory(prefix="easel-auth-bench-") as tmp,
                    database_url(database, Path(tmp)) as url,
                ):
                    env = {
                        "PYTHONPATH": str(Path(src).resolve()),
                        "EASEL_DATABASE__URL": url,
                        "EASEL_RATE_LIMIT__ENABLED": "false",
                        "EASEL_SERVER__LOG_LEVEL": "warning",
                    }
                    with h.serve_easel(Path(tmp) / "data", env, Path(tmp)) as server:
                        keys = fresh_keys(url, CLIENTS)
                        for route, route_keys in ((ROUTE, keys), ("/healthz", [""] * CLIENTS)):
                            result = measure(
                                variant, database, clients, server.url, route_keys, route, requests
                            )
                            print(" | ".join(result.row()), flush=True)
                            results.append(result)
    return results


def report(results: list[Result], requests: int, variants: dict[str, str]) -> str:
    header = [
        "variant",
        "database",
        "clients",
        "route",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "first burst p50 ms",
        "first burst max ms",
        "errors",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r.row()) + " |" for r in results]
    facts = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu count": str(os.cpu_count()),
        "python": platform.python_version(),
        "load average at start": h.load_average(),
        "requests per client": str(requests),
        "variants": ", ".join(f"{k} = {v}" for k, v in variants.items()),
    }
    return "\n".join(
        [
            "# Authenticated requests under 16 concurrent clients",
            "",
            "Written by `bench/auth_concurrency.py` (see its docstring for the method).",
            "",
            *[f"- {k}: {v}" for k, v in facts.items()],
            "",
            *lines,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    parser.add_argument("--variant", action="append", default=[], help="NAME=SRC_DIR (repeatable)")
    parser.add_argument("--out", type=Path, default=h.BENCH_DIR / "auth_concurrency.md")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant) or {"this tree": "src"}
    results = run(variants, args.requests)
    args.out.write_text(report(results, args.requests, variants))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
