#!/usr/bin/env python3
"""Reference fixtures for the bundled model models/tiny-shakespeare (CPU, float32).

Writes tests/fixtures/tiny_shakespeare/:
  greedy.json      3 prompts: prompt ids (BOS + tokenizer ids) and the reference's 200 greedy tokens
  perplexity.json  mean NLL / perplexity over the validation split, llama.cpp-style windows
  val.txt          the validation split (the last 10% of data/tinyshakespeare.txt by character)

Reference: NX-AI `xlstm` xLSTMLarge (xlstm.xlstm_large.model) with the native mlstm_kernels
(chunkwise--native_autograd / native_sequence__native / native step), mode="inference",
float32 weights, activations and recurrent state, on the CPU, one thread.  The HF weight names are
mapped to XL's (backbone.embeddings.weight -> embedding.weight; all others are identical).
Cross-check: HF transformers xLSTMForCausalLM loaded with from_pretrained from the bundled
directory must give the same greedy tokens, and the same mean NLL within 1e-5 relative.

Usage:  python3 scripts/make_tiny_shakespeare_fixtures.py            (writes the fixtures)
        python3 scripts/make_tiny_shakespeare_fixtures.py --check    (recomputes, compares)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import warnings
from importlib.metadata import version as pkg_version
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
warnings.filterwarnings("ignore")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

torch.set_default_dtype(torch.float32)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

from xlstm.xlstm_large.model import xLSTMLarge, xLSTMLargeConfig  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "tiny-shakespeare"
DATA = REPO / "data" / "tinyshakespeare.txt"
FIX = REPO / "tests" / "fixtures" / "tiny_shakespeare"

# Chosen so that no greedy step is a near tie (every top-1 / top-2 logit gap >= 8e-3; e.g.
# "First Citizen:\nBefore we proceed" was dropped: one step had a gap of 1.3e-4, which float32
# rounding differences between implementations could flip).
PROMPTS = ["ROMEO:", "GLOUCESTER:\nNow is the winter of our discontent", "KING RICHARD III:"]
NEW_TOKENS = 200
CTX = 256
BATCH = 10  # windows per forward call (does not change the result beyond float32 rounding)

VERSIONS = {p: pkg_version(p) for p in ("torch", "transformers", "xlstm", "mlstm_kernels", "tokenizers")}


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def load_xl(cfg: dict) -> xLSTMLarge:
    xc = xLSTMLargeConfig(
        embedding_dim=cfg["embedding_dim"],
        num_heads=cfg["num_heads"],
        num_blocks=cfg["num_blocks"],
        vocab_size=cfg["vocab_size"],
        use_bias=cfg["use_bias"],
        norm_eps=cfg["norm_eps"],
        norm_reduction_force_float32=cfg["norm_reduction_force_float32"],
        add_out_norm=cfg["add_out_norm"],
        qk_dim_factor=cfg["qk_dim_factor"],
        v_dim_factor=cfg["v_dim_factor"],
        chunkwise_kernel="chunkwise--native_autograd",
        sequence_kernel="native_sequence__native",
        step_kernel="native",
        mode="inference",
        chunk_size=cfg["chunk_size"],
        return_last_states=True,
        autocast_kernel_dtype="bfloat16",  # acts only under torch autocast (not used here)
        eps=cfg["eps"],
        inference_state_dtype="float32",
        ffn_proj_factor=cfg["ffn_proj_factor"],
        ffn_round_up_to_multiple_of=cfg["ffn_round_up_to_multiple_of"],
        gate_soft_cap=cfg["gate_soft_cap"],
        output_logit_soft_cap=cfg["output_logit_soft_cap"],
        weight_mode=cfg["weight_mode"],
    )
    sd = load_file(str(MODEL / "model.safetensors"))
    sd = {("embedding.weight" if k == "backbone.embeddings.weight" else k): v for k, v in sd.items()}
    model = xLSTMLarge(xc)
    model.load_state_dict(sd, strict=True)
    return model.eval()


@torch.no_grad()
def greedy(step_fn, prompt_ids: list[int], n: int):
    """Prefill the whole prompt once, then feed one token at a time carrying the state."""
    logits, state = step_fn(torch.tensor([prompt_ids]), None)
    out, margins = [], []
    last = logits[0, -1]
    for i in range(n):
        top2 = torch.topk(last, 2)
        tok = int(torch.argmax(last))
        assert tok == int(top2.indices[0])
        out.append(tok)
        margins.append(float(top2.values[0] - top2.values[1]))
        if i + 1 < n:
            logits, state = step_fn(torch.tensor([[tok]]), state)
            last = logits[0, -1]
    return out, margins


@torch.no_grad()
def window_nll(fwd, tokens: list[int], ctx: int, bos: int | None):
    """Per-window NLL (float64) of every prediction, as a [W, ctx-1] tensor: entry j is
    -log p(win[j+1] | [BOS]? win[0..j]), from a fresh state per window."""
    W = len(tokens) // ctx
    t = torch.tensor(tokens[: W * ctx]).view(W, ctx)
    shift = 1 if bos is not None else 0
    rows = []
    for i in range(0, W, BATCH):
        x = t[i : i + BATCH]
        if bos is not None:
            x = torch.cat([torch.full((len(x), 1), bos, dtype=x.dtype), x], 1)
        logits = fwd(x).double()  # [B, ctx+shift, V]
        lp = torch.log_softmax(logits[:, shift : shift + ctx - 1], dim=-1)
        tgt = t[i : i + BATCH, 1:]
        rows.append(-lp.gather(-1, tgt[..., None])[..., 0])
    return torch.cat(rows, 0)


def summarize(nll: torch.Tensor, first: int) -> dict:
    s = nll[:, first:]
    mean = float(s.sum() / s.numel())
    return {"mean_nll": mean, "perplexity": math.exp(mean), "windows": nll.shape[0], "scored_tokens": s.numel()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()

    cfg = json.loads((MODEL / "config.json").read_text())
    assert cfg["force_bos_token_insert"] is True
    BOS = cfg["bos_token_id"]
    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    assert tok.id_to_token(BOS) == "<|startoftext|>"
    xl = load_xl(cfg)

    from transformers import xLSTMForCausalLM

    hf = xLSTMForCausalLM.from_pretrained(str(MODEL)).eval()

    def xl_step(ids, state):
        return xl(ids, state)

    def hf_step(ids, state):
        o = hf(input_ids=ids, cache_params=state, use_cache=True)
        return o.logits, o.cache_params

    # ---------------- greedy ----------------
    cases = []
    for p in PROMPTS:
        ids = [BOS] + tok.encode(p).ids
        new, margins = greedy(xl_step, ids, NEW_TOKENS)
        new_hf, _ = greedy(hf_step, ids, NEW_TOKENS)
        assert new_hf == new, f"HF and XL greedy differ for {p!r}"
        cases.append({
            "prompt": p,
            "prompt_ids": ids,
            "new_ids": new,
            "continuation": tok.decode(new),
            "min_top2_logit_margin": min(margins),
            "top2_logit_margins": [round(m, 6) for m in margins],
        })
        print(f"greedy {p!r}: min top-2 margin {min(margins):.4g}\n{p}{tok.decode(new)}\n", flush=True)
    greedy_json = {
        "model": "models/tiny-shakespeare",
        "reference": "NX-AI xlstm xLSTMLarge (native kernels, mode=inference), float32, CPU; "
                     "HF transformers xLSTMForCausalLM (from_pretrained) gives the same tokens",
        "versions": VERSIONS,
        "algorithm": {
            "prompt_ids": "[bos_token_id] + tokenizer.encode(prompt) (HF tokenizers, tokenizer.json has no "
                          "post-processor, so encode adds nothing); BOS because config.force_bos_token_insert",
            "prefill": "the whole prompt_ids in one forward call from a fresh (zero) state",
            "decode": "new token = argmax of the last position's logits (lowest id on ties); it is fed alone as "
                      "the next input with the carried state; repeated until new_tokens tokens",
            "new_tokens": NEW_TOKENS,
            "eos": "no stopping at EOS (the model never produced it here)",
            "top2_logit_margins": "per generated token, logit(top1) - logit(top2) at that step",
        },
        "bos_token_id": BOS,
        "cases": cases,
    }

    # ---------------- perplexity ----------------
    text = DATA.read_text(encoding="utf-8")
    k = int(0.9 * len(text))
    val = text[k:]
    val_ids = tok.encode(val).ids

    def xl_fwd(x):
        return xl(x)[0]

    def hf_fwd(x):
        return hf(input_ids=x, use_cache=False).logits

    with torch.no_grad():
        nll_bos = window_nll(xl_fwd, val_ids, CTX, BOS)
        nll_nobos = window_nll(xl_fwd, val_ids, CTX, None)
        nll_bos_hf = window_nll(hf_fwd, val_ids, CTX, BOS)
    first = CTX // 2
    main_res = summarize(nll_bos, first)
    hf_res = summarize(nll_bos_hf, first)
    rel = abs(hf_res["mean_nll"] - main_res["mean_nll"]) / main_res["mean_nll"]
    assert rel < 1e-5, (main_res, hf_res)
    per_window = (nll_bos[:, first:].sum(1) / (CTX - 1 - first)).tolist()
    ppl_json = {
        "model": "models/tiny-shakespeare",
        "reference": greedy_json["reference"].replace("gives the same tokens", f"agrees to {rel:.1e} relative"),
        "versions": VERSIONS,
        "file": "tests/fixtures/tiny_shakespeare/val.txt",
        "file_sha256": sha256(val.encode("utf-8")),
        "file_rule": "data/tinyshakespeare.txt (sha256 %s, %d characters): k = int(0.9 * len(text)) = %d; "
                     "val = text[k:] (%d characters); train = text[:k]" % (sha256(text.encode()), len(text), k, len(val)),
        "algorithm": {
            "tokenize": "tokens = tokenizer.encode(whole file) (no special tokens added)",
            "ctx": CTX,
            "windows": "W = len(tokens) // ctx non-overlapping windows win_w = tokens[w*ctx:(w+1)*ctx]; the "
                       "incomplete last window (len(tokens) - W*ctx tokens) is dropped",
            "bos": "each window is fed as [bos_token_id] + win_w (because config.force_bos_token_insert; "
                   "`--bos auto`), from a fresh zero state; the BOS position's own prediction is not scored",
            "scored": "first = ctx // 2; for j in [first, ctx-1): the logits after input win_w[0..j] (input "
                      "position j+1 with BOS) predict win_w[j+1]; that is ctx - 1 - first = %d predictions per "
                      "window (targets win_w[first+1 .. ctx-1])" % (CTX - 1 - first),
            "nll": "-log_softmax(logits)[target] from the float32 logits, accumulated in float64",
            "mean_nll": "sum of scored NLLs / scored_tokens",
            "perplexity": "exp(mean_nll)",
        },
        "tokens": len(val_ids),
        "first": first,
        "windows": main_res["windows"],
        "scored_tokens": main_res["scored_tokens"],
        "mean_nll": main_res["mean_nll"],
        "perplexity": main_res["perplexity"],
        "hf_mean_nll": hf_res["mean_nll"],
        "per_window_mean_nll": [round(v, 8) for v in per_window],
        "variants": {
            "bos_none_first_128": {"desc": "same but no BOS (`--bos no`): window fed as win_w; logits at "
                                           "position j predict win_w[j+1]", **summarize(nll_nobos, first)},
            "bos_first_0": {"desc": "BOS prepended, every prediction j in [0, ctx-1) scored", **summarize(nll_bos, 0)},
            "bos_none_first_0": {"desc": "no BOS, every prediction j in [0, ctx-1) scored", **summarize(nll_nobos, 0)},
        },
    }
    print(json.dumps({k: v for k, v in ppl_json.items() if k not in ("per_window_mean_nll", "algorithm")},
                     indent=1), flush=True)

    # ---------------- sample (for the model card only; not a fixture) ----------------
    g = torch.Generator().manual_seed(0)
    ids = [BOS] + tok.encode("ROMEO:").ids
    with torch.no_grad():
        logits, state = xl(torch.tensor([ids]))
        out = []
        for _ in range(300):
            probs = torch.softmax(logits[0, -1] / 0.8, -1)
            t = int(torch.multinomial(probs, 1, generator=g))
            out.append(t)
            logits, state = xl(torch.tensor([[t]]), state)
    print("---- sample (temperature 0.8, torch.multinomial seed 0) ----\nROMEO:" + tok.decode(out))

    files = {
        "greedy.json": json.dumps(greedy_json, indent=1) + "\n",
        "perplexity.json": json.dumps(ppl_json, indent=1) + "\n",
        "val.txt": val,
    }
    if args.check:
        bad = 0
        for name, content in files.items():
            old = (FIX / name).read_text(encoding="utf-8")
            if name == "greedy.json":
                same = [c["new_ids"] for c in json.loads(old)["cases"]] == [c["new_ids"] for c in cases]
            elif name == "perplexity.json":
                o = json.loads(old)
                same = abs(o["mean_nll"] - ppl_json["mean_nll"]) <= 1e-6 * o["mean_nll"]
            else:
                same = old == content
            print(f"check {name}: {'ok' if same else 'DIFFERENT'}")
            bad += not same
        sys.exit(1 if bad else 0)
    FIX.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (FIX / name).write_text(content, encoding="utf-8")
    print(f"wrote {', '.join(files)} to {FIX}")


if __name__ == "__main__":
    main()
