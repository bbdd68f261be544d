#!/usr/bin/env python3
"""Where a fresh server's first burst of requests spends its time: the client's time to first
token next to the server's own (/metrics: from a job's arrival at the scheduler to its first
token), for two bursts of N simultaneous requests into one just-started server.

  scripts/debug/serve_burst.py --model DIR|config.json [--device cuda] [--n 64] [--server-arg=...]
"""
import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import bench_serve  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--binary", default="build/bin/xlstm")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--server-arg", action="append", default=[])
    args = ap.parse_args()
    args.max_batch = args.n
    proc, url = bench_serve.start_server(args, [])
    try:
        for burst in range(2):
            ttfts = []
            lock = threading.Lock()

            def one(i):
                t, _, _ = bench_serve.streamed(url, {"prompt": [0] + [30 + i + burst] * 15,
                                                     "max_tokens": 8, "temperature": 0,
                                                     "stream": True})
                with lock:
                    ttfts.append(t)

            before = bench_serve.metrics(url)
            wall = bench_serve.run_threads(one, args.n)
            r = {}
            bench_serve.add_server_ttft(r, before, bench_serve.metrics(url))
            ttfts.sort()
            print(f"burst {burst}: client TTFT p50 {1e3 * ttfts[len(ttfts) // 2]:.1f} ms, "
                  f"max {1e3 * ttfts[-1]:.1f} ms, mean {1e3 * sum(ttfts) / len(ttfts):.1f} ms; "
                  f"server TTFT mean {r.get('server_ttft_mean_ms', 0):.1f} ms; wall {wall:.2f} s",
                  flush=True)
    finally:
        bench_serve.stop_server(proc)


if __name__ == "__main__":
    main()
