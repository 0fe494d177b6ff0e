#!/usr/bin/env python
"""Benchmark: `flock-subnet serve` against a naive one-request-at-a-time `model.generate` loop.

Both generate with the same model, on the same device, with the same number of torch threads,
for the same chat prompts, `--max-tokens` new tokens each (greedy, end of text ignored, so
every request produces exactly that many tokens):

(a) naive: `model.generate` on one request after the other (what a simple server does);
(b) serve: the real server in its own process (continuous batching, KV cache per sequence),
    driven over HTTP by 1 and then 8 concurrent clients, each sending its share of the
    requests one after another.

The measurements alternate `--repeats` times and the best of each counts (the machine may be
shared). Prints whether the server's greedy answer equals `generate`'s, requests, tokens/s and
latency p50/p95 for each, and last `ratio=<serve tokens/s at 8 clients / naive tokens/s>`.

    python scripts/bench_serve.py                      # CPU, the `local` base (tiny Llama, ~5M), 1 thread
    python scripts/bench_serve.py --preset micro --requests 32 --threads 0
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint folder (default: a tiny model built with --preset)")
    parser.add_argument("--preset", default="small", help="tiny preset to build when --model is not given (default small)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (bf16 on cuda)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads for both (default 1: right for a tiny model, steady on a shared CPU; "
                             "0 lets torch choose)")
    parser.add_argument("--requests", type=int, default=32, help="requests per measurement (default 32)")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens per request (default 64)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8], help="concurrent clients to measure (default 1 8)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each measurement; the best counts")
    return parser.parse_args(argv)


@dataclass
class Measured:
    requests: int
    tokens: int
    seconds: float
    latencies: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

    def line(self, name: str) -> str:
        return (f"{name:<12} requests={self.requests} tokens/s={self.tokens_per_s:.1f} "
                f"p50={self.percentile(0.5) * 1000:.0f}ms p95={self.percentile(0.95) * 1000:.0f}ms")


def messages(i: int) -> list[dict[str, str]]:
    digits = " ".join(str((i * 7 + k * 3) % 10) for k in range(4 + i % 5))
    return [{"role": "user", "content": f"Sort the digits: {digits}"}]


class Naive:
    """`model.generate` on one request after the other, with the model loaded once."""

    def __init__(self, folder: Path, device: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, use_safetensors=True).to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.device = device

    def generate(self, i: int, max_tokens: int) -> str:
        import torch

        tokenizer = self.tokenizer
        text = tokenizer.apply_chat_template(messages(i), add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            out = self.model.generate(**ids, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False,
                                      pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)

    def run(self, count: int, max_tokens: int) -> Measured:
        latencies = []
        start = time.perf_counter()
        for i in range(count):
            began = time.perf_counter()
            self.generate(i, max_tokens)
            latencies.append(time.perf_counter() - began)
        return Measured(count, count * max_tokens, time.perf_counter() - start, latencies)


def ask(conn: http.client.HTTPConnection, i: int, max_tokens: int) -> tuple[int, str]:
    body = json.dumps({"messages": messages(i), "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True})
    conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = json.loads(response.read())
    if response.status != 200:
        raise RuntimeError(f"server answered {response.status}: {data}")
    return data["usage"]["completion_tokens"], data["choices"][0]["message"]["content"]


def drive(url: str, clients: int, count: int, max_tokens: int) -> Measured:
    host, port = urlsplit(url).hostname, urlsplit(url).port
    latencies: list[float] = []
    tokens = [0] * clients
    errors: list[BaseException] = []

    def client(c: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=600)
        try:
            for i in range(c, count, clients):
                began = time.perf_counter()
                got, _ = ask(conn, i, max_tokens)
                latencies.append(time.perf_counter() - began)
                tokens[c] += got
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return Measured(count, sum(tokens), seconds, latencies)


def start_server(folder: Path, args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "flock_subnet", "serve", "--model", str(folder), "--port", "0",
               "--device", args.device, "--max-batch", str(max(16, max(args.clients)))]
    if args.threads > 0:
        command += ["--threads", str(args.threads)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = server.stdout.readline()
    if not line.startswith("listening on "):
        server.kill()
        raise SystemExit(f"the server did not start (exit code {server.wait()}); run the command by hand: {command}")
    return server, line.split()[-1]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(args.model) if args.model else None
        if folder is None:
            from flock_subnet.models.tiny import build_tiny_model

            folder = build_tiny_model(Path(tmp) / f"tiny-{args.preset}", preset=args.preset)
        print(f"model={folder} device={args.device} threads={torch.get_num_threads()} "
              f"max_tokens={args.max_tokens}")
        naive = Naive(folder, args.device)
        reference = naive.generate(0, args.max_tokens)  # warm-up, and the reference answer
        server, url = start_server(folder, args)
        try:
            conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=600)
            _, served = ask(conn, 0, args.max_tokens)  # warm-up, and the same question as the reference
            conn.close()
            print(f"same_answer_as_generate={served == reference}")
            # The measurements alternate, so a busy moment on a shared machine hits both sides alike.
            runs: dict[str, list[Measured]] = {}
            for _ in range(args.repeats):
                runs.setdefault("naive", []).append(naive.run(args.requests, args.max_tokens))
                for clients in args.clients:
                    runs.setdefault(f"serve c={clients}", []).append(drive(url, clients, args.requests, args.max_tokens))
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
    best = {name: max(measured, key=lambda m: m.tokens_per_s) for name, measured in runs.items()}
    for name, measured in best.items():
        print(measured.line(name))
    top = best.get("serve c=8") or best[f"serve c={max(args.clients)}"]
    print(f"ratio={top.tokens_per_s / best['naive'].tokens_per_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
