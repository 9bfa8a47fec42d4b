"""CPU per webhook POST: the worker's urllib3 pool in threads against httpx's async client, in the same run.

Starts the NestJS stand-in (keep-alive, answers 201), then runs each client in a fresh process of its own that
POSTs `--posts` hash-check bodies, `--concurrency` at a time, and prints the CPU that process spent per POST and
the ratio of urllib3's to httpx's.

    .venv/bin/python bench/webhook_client.py [--posts 3000] [--concurrency 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.nestjs_standin import NestJsStandIn  # noqa: E402 - after the path is set

BODY = json.dumps({"stemId": "bench", "userId": "u", "trackId": "t", "filepath": "uploads/bench.wav",
                   "audio_hash": "0" * 64, "original_filename": "bench.wav"}).encode()
HEADERS = {"Content-Type": "application/json", "webhook-id": "stem-bench:run:hash-check"}
WARM_UP = 100


def with_urllib3(url: str, posts: int, concurrency: int) -> float:
    from activities.webhooks import webhook_connections
    from waveflow.settings import Settings

    pool = webhook_connections(Settings(s3_bucket_name="bench", webhook_url=url, metrics_bind_address="",
                                        max_concurrent_activities=concurrency // 2))

    def post(_: int) -> None:
        assert pool.request("POST", f"{url}/hash-check", body=BODY, headers=HEADERS, redirect=False).status == 201

    with ThreadPoolExecutor(concurrency) as threads:
        list(threads.map(post, range(WARM_UP)))
        started = time.process_time()
        list(threads.map(post, range(posts)))
        return time.process_time() - started


def with_httpx(url: str, posts: int, concurrency: int) -> float:
    import httpx

    async def run() -> float:
        async with httpx.AsyncClient(timeout=10) as http:  # as the worker had it
            slots = asyncio.Semaphore(concurrency)

            async def post() -> None:
                async with slots:
                    assert (await http.post(f"{url}/hash-check", content=BODY, headers=HEADERS)).status_code == 201

            await asyncio.gather(*(post() for _ in range(WARM_UP)))
            started = time.process_time()
            await asyncio.gather(*(post() for _ in range(posts)))
            return time.process_time() - started

    return asyncio.run(run())


CLIENTS = {"httpx (async)": with_httpx, "urllib3 (threads)": with_urllib3}


def measured(client: str, url: str, posts: int, concurrency: int) -> float:
    """CPU milliseconds per POST of `client`, in a fresh process."""
    output = subprocess.run([sys.executable, __file__, "--client", client, "--url", url, "--posts", str(posts),
                             "--concurrency", str(concurrency)], check=True, capture_output=True, text=True).stdout
    return float(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64, help="the worker's activity threads by default")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        print(1000 * CLIENTS[args.client](args.url, args.posts, args.concurrency) / args.posts)
        return
    standin = NestJsStandIn().start()
    try:
        per_post: dict[str, list[float]] = {client: [] for client in CLIENTS}
        for _ in range(args.rounds):  # alternating, so that a slow spell of the machine hits both
            for client in CLIENTS:
                per_post[client].append(measured(client, standin.url, args.posts, args.concurrency))
    finally:
        standin.stop()
    print(f"{args.posts} POSTs, {args.concurrency} at a time, median of {args.rounds} rounds")
    medians = {client: statistics.median(values) for client, values in per_post.items()}
    for client, milliseconds in medians.items():
        print(f"{client:20s} {milliseconds:.2f} ms CPU per POST")
    print(f"urllib3 / httpx: {medians['urllib3 (threads)'] / medians['httpx (async)']:.2f}x")


if __name__ == "__main__":
    main()
