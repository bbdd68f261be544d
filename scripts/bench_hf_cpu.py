#!/usr/bin/env python3
"""Times HF transformers' xLSTMForCausalLM on the CPU with the shapes of an xlstm.cpp config.

Same protocol as `xlstm bench`: random weights, one prefill of --prompt-len tokens per sequence
(only the state and the last logits are kept), then --gen single-token decode steps carrying the
cache. Prints one markdown row per batch size. Needs: torch, transformers (xlstm is used by HF if
installed; its native kernels run on CPU).
"""
import argparse
import json
import resource
import time

import torch
from transformers import xLSTMConfig, xLSTMForCausalLM
from transformers.models.xlstm.modeling_xlstm import xLSTMCache


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="xlstm.cpp-style config.json (embedding_dim, num_blocks, ...)")
    ap.add_argument("--prompt-len", type=int, default=512)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--batch", default="1")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    c = json.load(open(args.config))
    cfg = xLSTMConfig(
        vocab_size=c["vocab_size"], hidden_size=c["embedding_dim"], embedding_dim=c["embedding_dim"],
        num_hidden_layers=c["num_blocks"], num_blocks=c["num_blocks"], num_heads=c["num_heads"],
        qk_dim_factor=c.get("qk_dim_factor", 0.5), v_dim_factor=c.get("v_dim_factor", 1.0),
        ffn_proj_factor=c.get("ffn_proj_factor", 2.667), tie_word_embeddings=c.get("tie_word_embeddings", False),
        use_bias=c.get("use_bias", False), chunk_size=c.get("chunk_size", 64), mode="inference",
        chunkwise_kernel="chunkwise--native_autograd", sequence_kernel="native_sequence__native",
        step_kernel="native", return_last_states=True)
    torch.manual_seed(0)
    model = xLSTMForCausalLM(cfg).eval().float()
    if cfg.tie_word_embeddings:  # HF's xLSTMForCausalLM does not tie by itself (transformers 5.23)
        model.lm_head.weight = model.backbone.embeddings.weight
    params = sum(p.numel() for p in model.parameters())
    print(f"HF transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}, params={params / 1e6:.1f}M")
    print("| batch | prompt | prefill tok/s | decode steps | decode tok/s | peak RSS MiB |")
    print("|------:|-------:|--------------:|-------------:|-------------:|-------------:|")
    for B in [int(b) for b in args.batch.split(",")]:
        ids = (torch.arange(B * args.prompt_len) * 7919 + 13) % cfg.vocab_size
        ids = ids.reshape(B, args.prompt_len)
        best_p = best_d = 0.0
        for _ in range(args.reps):
            with torch.inference_mode():
                cache = xLSTMCache(config=cfg, max_batch_size=B, dtype=torch.float32)
                t0 = time.perf_counter()
                out = model(ids, cache_params=cache, use_cache=True, logits_to_keep=1)
                prefill = time.perf_counter() - t0
                cache = out.cache_params
                t1 = time.perf_counter()
                for s in range(args.gen):
                    nxt = ((torch.arange(B) + s * 31) % cfg.vocab_size).reshape(B, 1)
                    out = model(nxt, cache_params=cache, use_cache=True)
                    cache = out.cache_params
                decode = time.perf_counter() - t1
            best_p = max(best_p, B * args.prompt_len / prefill)
            if args.gen:
                best_d = max(best_d, B * args.gen / decode)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {B:5d} | {args.prompt_len:6d} | {best_p:13.1f} | {args.gen:12d} | {best_d:12.2f} | {rss:12.1f} |")


if __name__ == "__main__":
    main()
