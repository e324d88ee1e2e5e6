"""Load test of `rnnkit serve` on 127.0.0.1: latency percentiles, throughput, 429s past capacity, memory.

    .venv/bin/python benchmarks/serve.py [--bundle PATH] [--clients 8] [--seconds 10] [--tokens 32]

For each setting the server runs in its own process (``rnnkit serve``, on a free loopback port) and N client
threads send POST /v1/generate (seeded sampling) back to back for a fixed time. Runs:

* ``batching``: --max-batch 8, N clients (nominal load: expect zero errors);
* ``no batching``: --max-batch 1, the same load (the baseline, measured in the same run);
* ``overload``: --max-batch 1 with a queue of 2 and 4N clients (expect clean 429s with Retry-After).

Reported per run: requests, errors by status, p50/p95/p99 latency, requests/s, generated tokens/s, and the
server's resident memory (VmRSS) after warm-up and at the end. Then the server gets SIGTERM and must exit 0.
Without --bundle a random-weight LSTM language model (V=2000, E=128, H=256) is built in a temporary folder.
Writes benchmarks/results/serve.json and prints a markdown table. Traffic goes to 127.0.0.1 only, and every
loop is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_bundle(folder: Path) -> Path:
    from rnnkit.bundle import save
    from rnnkit.models import LanguageModel, LanguageModelConfig
    from rnnkit.text import Tokenizer

    tokenizer = Tokenizer([*Tokenizer.build([""]).tokens, *(chr(0x4E00 + i) for i in range(1996))])
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=128, hidden_size=256))
    return save(folder / "bundle", model, tokenizer, task="benchmark")


def start_server(bundle: Path, max_batch: int, max_queue: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    code = ("import sys; from rnnkit.serve import ServerSettings, serve; "
            f"serve(sys.argv[1], host='127.0.0.1', port={port}, "
            f"settings=ServerSettings(max_batch={max_batch}, max_queue={max_queue or 32}, max_new_tokens=512))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", code, str(bundle)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not become ready within 60 s")


def load(url: str, clients: int, seconds: float, tokens: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    generated = [0]
    retry_after: set[str] = set()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            request = 0
            while time.monotonic() < stop_at:
                body = {"prompt": "", "max_new_tokens": tokens, "seed": number * 100_000 + request}
                start = time.perf_counter()
                answer = http.post("/v1/generate", json=body)
                elapsed = time.perf_counter() - start
                request += 1
                with lock:
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    if answer.status_code == 200:
                        latencies.append(elapsed)
                        generated[0] += len(answer.json()["tokens"])
                    elif answer.status_code == 429:
                        retry_after.add(answer.headers.get("retry-after", "missing"))
                if answer.status_code == 429:
                    time.sleep(0.05)

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ordered = sorted(latencies)

    def percentile(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    return {"requests": sum(statuses.values()), "statuses": statuses, "p50_ms": percentile(0.5),
            "p95_ms": percentile(0.95), "p99_ms": percentile(0.99), "requests_per_s": len(ordered) / wall,
            "tokens_per_s": generated[0] / wall, "retry_after": sorted(retry_after)}


def run(name: str, bundle: Path, max_batch: int, max_queue: int | None, clients: int, seconds: float,
        tokens: int) -> dict:
    process, url = start_server(bundle, max_batch, max_queue)
    try:
        load(url, min(clients, 2), 1.0, tokens)  # warm-up
        memory_start = rss_mib(process.pid)
        result = load(url, clients, seconds, tokens)
        result["rss_mib_start"], result["rss_mib_end"] = memory_start, rss_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)  # graceful shutdown must end the process cleanly
        try:
            result_code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            result_code = "killed"
    return {"name": name, "max_batch": max_batch, "clients": clients, **result, "exit_code_after_sigterm": result_code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bundle = args.bundle or make_bundle(Path(folder))
        runs = [
            run("batching", bundle, 8, None, args.clients, args.seconds, args.tokens),
            run("no batching", bundle, 1, None, args.clients, args.seconds, args.tokens),
            run("overload", bundle, 1, 2, 4 * args.clients, args.seconds / 2, args.tokens),
        ]
    machine = {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
               "server_threads": 1, "tokens_per_request": args.tokens, "seconds": args.seconds}
    out = ROOT / "benchmarks" / "results" / "serve.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "runs": runs}, indent=2))
    print(f"machine: {machine}")
    print("| run | clients | requests | statuses | p50 ms | p95 ms | p99 ms | req/s | tokens/s | RSS MiB start→end | "
          "exit after SIGTERM |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['name']} | {r['clients']} | {r['requests']} | {r['statuses']} | {r['p50_ms']:.0f} | "
              f"{r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['requests_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
              f"{r['rss_mib_start']:.0f}→{r['rss_mib_end']:.0f} | {r['exit_code_after_sigterm']} |")
    base = next(r for r in runs if r["name"] == "no batching")
    batched = next(r for r in runs if r["name"] == "batching")
    print(f"batching / no batching: {batched['tokens_per_s'] / base['tokens_per_s']:.2f}x tokens/s")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
