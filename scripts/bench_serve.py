#!/usr/bin/env python3
"""Load benchmark of `xlstm serve` (standard library only: urllib and threads).

Starts the server on a free loopback port (or uses --url), then for each concurrency level runs
that many clients, each sending --requests streamed completions one after another, and reports
requests/s, output tokens/s, and p50/p99 time to first token (TTFT) and inter-token latency
(ITL). Then the same load with a shared system prompt (--system-tokens tokens, plus a short
distinct suffix per request), once on a server with the state cache and once without.

Prompts are token ids drawn from a fixed seed, greedy with ignore_eos: every request generates
exactly --max-tokens tokens.

  scripts/bench_serve.py --model models/tiny-shakespeare [--device cpu] [--binary build/bin/xlstm]
                         [--concurrency 1,8,32,64] [--requests 8] [--prompt-tokens 64]
                         [--max-tokens 64] [--system-tokens 2000] [--out FILE.md]
"""
import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def start_server(args, extra):
    # A config file (random weights of its shape; give --server-arg=--tokenizer=FILE) or a model
    # directory.
    model = ["--config", args.model] if args.model.endswith(".json") else ["-m", args.model]
    cmd = [args.binary, "serve"] + model + ["--port", "0", "--device", args.device,
           "--max-batch", str(args.max_batch), "--max-queue", "4096"] + extra + args.server_arg
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        sys.exit(f"server did not start: {line!r} ({' '.join(cmd)})")
    return proc, line.strip().rsplit(" ", 1)[-1]


def stop_server(proc):
    proc.terminate()
    proc.wait(timeout=60)


def streamed(url, body):
    """One streamed completion: (ttft, [inter-token gaps], tokens)."""
    req = urllib.request.Request(url + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    ttft, gaps, tokens, last = None, [], 0, None
    with urllib.request.urlopen(req, timeout=600) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            n = sum(len(c.get("token_ids", [])) for c in event["choices"])
            if n == 0:
                continue
            now = time.perf_counter()
            if ttft is None:
                ttft = now - t0
            else:
                gaps.append(now - last)
            last = now
            tokens += n
    return ttft, gaps, tokens


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run_threads(fn, n):
    """fn(0) .. fn(n - 1) on n threads at once; returns the wall time until all are done."""
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def warm_clients(url, concurrency, prompt_len, vocab):
    """One untimed short request per client, all at once, with prompts of their own (none of
    the measured ones, so the cache learns nothing): first-use costs on both sides (the client's
    first urllib use in 64 threads, a fresh server's first burst) stay out of the tables."""
    rng = random.Random(f"warm-up {concurrency}")  # not the measured prompts' seed
    prompts = [[rng.randrange(3, vocab) for _ in range(prompt_len)] for _ in range(concurrency)]
    run_threads(lambda i: streamed(url, {"prompt": prompts[i], "max_tokens": 4, "stream": True}),
                concurrency)


def run_load(url, concurrency, requests, make_prompt, max_tokens):
    ttfts, gaps, tokens = [], [], [0]
    lock = threading.Lock()
    errors = []

    def client(c):
        for r in range(requests):
            body = {"prompt": make_prompt(c, r), "max_tokens": max_tokens, "temperature": 0,
                    "ignore_eos": True, "stream": True}
            try:
                t, g, n = streamed(url, body)
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(repr(e))
                continue
            with lock:
                ttfts.append(t)
                gaps.extend(g)
                tokens[0] += n

    wall = run_threads(client, concurrency)
    if errors:
        print(f"  {len(errors)} failed requests, first: {errors[0]}", file=sys.stderr)
    done = len(ttfts)
    return {"concurrency": concurrency, "requests": done, "wall_s": wall,
            "req_per_s": done / wall, "out_tok_per_s": tokens[0] / wall,
            "ttft_p50_ms": 1e3 * pct(ttfts, 50), "ttft_p99_ms": 1e3 * pct(ttfts, 99),
            "itl_p50_ms": 1e3 * pct(gaps, 50), "itl_p99_ms": 1e3 * pct(gaps, 99),
            "failed": len(errors)}


def metrics(url):
    text = urllib.request.urlopen(url + "/metrics", timeout=60).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            k, v = line.split(" ", 1)
            out[k] = float(v)
    return out


def add_server_ttft(result, before, after):
    """The server's own mean time to first token over a run (from a job's arrival at its
    scheduler; /metrics before and after): what of the client's TTFT is the server's."""
    key = "xlstm_time_to_first_token_seconds"
    n = after.get(key + "_count", 0) - before.get(key + "_count", 0)
    if n > 0:
        result["server_ttft_mean_ms"] = 1e3 * (after[key + "_sum"] - before[key + "_sum"]) / n


def table(rows, title):
    lines = [f"### {title}", "",
             "| concurrency | requests | req/s | output tok/s | TTFT p50 ms | TTFT p99 ms "
             "| server TTFT mean ms | ITL p50 ms | ITL p99 ms |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        server = r.get("server_ttft_mean_ms")
        lines.append(f"| {r['concurrency']} | {r['requests']} | {r['req_per_s']:.2f} | "
                     f"{r['out_tok_per_s']:.0f} | {r['ttft_p50_ms']:.1f} | {r['ttft_p99_ms']:.1f} | "
                     f"{'' if server is None else f'{server:.1f}'} | "
                     f"{r['itl_p50_ms']:.2f} | {r['itl_p99_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", required=True, help="model directory, or a config.json: random weights")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--binary", default="build/bin/xlstm")
    ap.add_argument("--url", help="use a running server instead (no cache on/off runs)")
    ap.add_argument("--concurrency", default="1,8,32,64")
    ap.add_argument("--requests", type=int, default=8, help="requests per client")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--system-tokens", type=int, default=2000)
    ap.add_argument("--system-concurrency", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=0, help="token ids drawn below this (default: "
                    "the model's vocab_size from config.json)")
    ap.add_argument("--cache-mb", type=int, help="--state-cache-mb of the servers with the cache "
                    "on (default: the server's)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for xlstm serve (repeat)")
    ap.add_argument("--out", help="write the Markdown tables here")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false",
                    help="measure from the first request (default: one untimed short request "
                         "per client before each level)")
    args = ap.parse_args()
    config = args.model if args.model.endswith(".json") else os.path.join(args.model, "config.json")
    vocab = args.vocab or json.load(open(config))["vocab_size"]
    rng = random.Random(1)
    pool = [[rng.randrange(3, vocab) for _ in range(args.prompt_tokens)] for _ in range(256)]
    system = [rng.randrange(3, vocab) for _ in range(args.system_tokens)]
    suffix = [[rng.randrange(3, vocab) for _ in range(32)] for _ in range(4096)]
    levels = [int(x) for x in args.concurrency.split(",")]

    report = []
    proc = None
    url = args.url
    cache_on = [] if args.cache_mb is None else ["--state-cache-mb", str(args.cache_mb)]
    if not url:
        proc, url = start_server(args, cache_on)
    try:
        rows = []
        for c in levels:
            if args.warmup:
                warm_clients(url, c, args.prompt_tokens, vocab)
            before = metrics(url)
            r = run_load(url, c, args.requests,
                         lambda ci, ri: pool[(ci * 31 + ri) % len(pool)], args.max_tokens)
            add_server_ttft(r, before, metrics(url))
            rows.append(r)
            print(json.dumps(r), flush=True)
        report.append(table(rows, f"{args.prompt_tokens}-token prompts, {args.max_tokens} new "
                                  f"tokens, {args.requests} requests per client"))
    finally:
        if proc:
            stop_server(proc)

    if not args.url and args.system_tokens > 0:
        rows = []
        for label, extra in (("cache on", cache_on), ("cache off", ["--state-cache-mb", "0"])):
            proc, url = start_server(args, extra)
            try:
                if args.warmup:
                    warm_clients(url, args.system_concurrency, args.prompt_tokens, vocab)
                # One request first: the cached run starts with the system prompt in the cache.
                streamed(url, {"prompt": system + suffix[-1], "max_tokens": 1, "stream": True})
                before = metrics(url)
                r = run_load(url, args.system_concurrency, args.requests,
                             lambda ci, ri: system + suffix[ci * args.requests + ri],
                             args.max_tokens)
                m = metrics(url)
                add_server_ttft(r, before, m)
                r["concurrency"] = f"{args.system_concurrency} ({label}; hits " \
                                   f"{m.get('xlstm_state_cache_hits_total', 0):.0f})"
                rows.append(r)
                print(json.dumps(r), flush=True)
            finally:
                stop_server(proc)
        report.append(table(rows, f"shared {args.system_tokens}-token system prompt + 32 "
                                  f"distinct tokens, {args.max_tokens} new tokens"))

    text = "\n".join(report)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
