#!/usr/bin/env python3
"""The official xlstm package on the CPU (vanilla sLSTM backend, float32): prefill and decode
tok/s of an original-family stack from a config JSON, random weights. The CPU side of
bench/run_family_cpu_bench.sh; prints one markdown row per batch size.

  python3 bench/family_cpu_reference.py --config bench/configs/xlstm-120m-7to1.json \
      --prompt-len 128 --gen 32 --threads 2
"""
import argparse
import json
import time

import torch
from xlstm import (FeedForwardConfig, mLSTMBlockConfig, mLSTMLayerConfig, sLSTMBlockConfig,
                   sLSTMLayerConfig, xLSTMLMModel, xLSTMLMModelConfig)


def config_from_json(path: str) -> xLSTMLMModelConfig:
    j = json.load(open(path))
    m, s = j.get("mlstm_block"), j.get("slstm_block")
    mb = None
    if m:
        ml = m["mlstm"]
        mb = mLSTMBlockConfig(mlstm=mLSTMLayerConfig(
            conv1d_kernel_size=ml["conv1d_kernel_size"], qkv_proj_blocksize=ml["qkv_proj_blocksize"],
            num_heads=ml["num_heads"], proj_factor=ml["proj_factor"],
            round_proj_up_dim_up=ml["round_proj_up_dim_up"],
            round_proj_up_to_multiple_of=ml["round_proj_up_to_multiple_of"]))
    sb = None
    if s:
        sl, ff = s["slstm"], s.get("feedforward")
        sb = sLSTMBlockConfig(
            slstm=sLSTMLayerConfig(backend="vanilla", num_heads=sl["num_heads"],
                                   conv1d_kernel_size=sl["conv1d_kernel_size"],
                                   group_norm_weight=sl["group_norm_weight"]),
            feedforward=FeedForwardConfig(proj_factor=ff["proj_factor"], act_fn=ff["act_fn"])
            if ff else None)
    return xLSTMLMModelConfig(
        mlstm_block=mb, slstm_block=sb, context_length=j["context_length"],
        num_blocks=j["num_blocks"], embedding_dim=j["embedding_dim"], slstm_at=j["slstm_at"],
        vocab_size=j["vocab_size"], tie_weights=j["tie_weights"],
        add_post_blocks_norm=j["add_post_blocks_norm"], bias=j["bias"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--batch", default="1")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = config_from_json(a.config)
    model = xLSTMLMModel(cfg).eval()
    model.reset_parameters()
    params = sum(p.numel() for p in model.parameters())
    print(f"# official xlstm {__import__('xlstm').__version__ if hasattr(__import__('xlstm'), '__version__') else ''}"
          f" torch {torch.__version__}, {params / 1e6:.1f}M parameters, {a.threads} threads")
    print("| batch | prompt | prefill tok/s | decode steps | decode tok/s |")
    print("|------:|-------:|--------------:|-------------:|-------------:|")
    for B in [int(b) for b in a.batch.split(",")]:
        ids = torch.randint(0, cfg.vocab_size, (B, a.prompt_len))
        with torch.no_grad():
            t0 = time.perf_counter()
            model(ids)
            prefill = B * a.prompt_len / (time.perf_counter() - t0)
            # Decode: the prompt through step() (the package's stateful path), then a.gen steps.
            state = None
            tok = ids[:, :1]
            for t in range(a.prompt_len):
                _, state = model.step(ids[:, t:t + 1], state=state)
            t0 = time.perf_counter()
            for _ in range(a.gen):
                logits, state = model.step(tok, state=state)
                tok = logits[:, -1:].argmax(-1)
            decode = B * a.gen / (time.perf_counter() - t0)
        print(f"| {B} | {a.prompt_len} | {prefill:.1f} | {a.gen} | {decode:.2f} |")


if __name__ == "__main__":
    main()
