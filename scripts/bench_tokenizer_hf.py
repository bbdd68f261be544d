#!/usr/bin/env python3
"""Encode / decode throughput of HF `tokenizers` on one thread, measured like
bench/tokenizer_bench.cpp (same file, same modes, same MB = 1e6 input bytes).

Usage: RAYON_NUM_THREADS=1 python3 scripts/bench_tokenizer_hf.py <tokenizer.json> <text> [repeats]
Prints one JSON object; ids_hash is computed as the C++ bench does, to compare the ids.
"""
import json
import os
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402  (after the thread settings)
from tokenizers import Tokenizer  # noqa: E402


def best_of(repeats, f):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    path, text_path = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    raw = open(text_path, "rb").read()
    text = raw.decode("utf-8")
    lines = text.splitlines(keepends=True)
    mb = len(raw) / 1e6

    t0 = time.perf_counter()
    tok = Tokenizer.from_file(path)
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    cold_s = time.perf_counter() - t0
    file_s = best_of(repeats, lambda: tok.encode(text, add_special_tokens=False))
    # encode_batch runs the lines in Rust (one thread here), without a Python call per line.
    line_tokens = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
    lines_s = best_of(repeats, lambda: tok.encode_batch(lines, add_special_tokens=False))
    ids_hash = 0
    for i in ids:
        ids_hash = (ids_hash * 1000003 + i) & 0xFFFFFFFFFFFFFFFF
    back = tok.decode(ids, skip_special_tokens=False)
    decode_s = best_of(repeats, lambda: tok.decode(ids, skip_special_tokens=False))
    print(json.dumps({
        "impl": "HF tokenizers " + tokenizers.__version__,
        "bytes": len(raw), "tokens": len(ids), "line_tokens": line_tokens,
        "load_s": round(load_s, 4), "encode_cold_mbps": round(mb / cold_s, 2),
        "encode_file_mbps": round(mb / file_s, 2), "encode_lines_mbps": round(mb / lines_s, 2),
        "decode_mbps": round(mb / decode_s, 2), "roundtrip": back == text,
        "ids_hash": "%016x" % ids_hash,
    }))


if __name__ == "__main__":
    main()
