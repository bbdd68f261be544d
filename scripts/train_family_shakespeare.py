#!/usr/bin/env python3
r"""Train a small mixed stack of the ORIGINAL xLSTM family (mLSTM v1 + sLSTM blocks) on Tiny Shakespeare
with the official NX-AI package (`xlstm.xLSTMLMModel`, sLSTM backend "vanilla": pure PyTorch, no CUDA
extension build, runs on a CPU or a GPU), and write a model directory that xlstm.cpp loads:

  config.json        json.dumps(dataclasses.asdict(xLSTMLMModelConfig)) of the inference config (dropout 0)
                     plus "bos_token_id", "eos_token_id", "pad_token_id" (the tokenizer's ids)
  model.safetensors  model.state_dict(), official names, float32 (if tied: both names, separate copies)
  tokenizer.json     copy of models/tiny-shakespeare/tokenizer.json (byte-level BPE, vocab 2048)
  training_log.json  arguments, parameter count, evaluation curve, wall times, package versions
  README.md          model card (architecture, data, tokenizer, training, final losses / perplexity)

Data: data/tinyshakespeare.txt, split by character position: k = int(0.9 * len(text)); train = text[:k],
val = text[k:] (== tests/fixtures/tiny_shakespeare/val.txt). Each split is tokenized on its own, without
special tokens (the tokenizer adds none).

BOS: by default (--bos none) no BOS is used anywhere: training sequences are seq_len consecutive tokens
from a random offset, fed from a zero state, every position trained (predicting the next token). The
family config has no force_bos_token_insert, so `xlstm perplexity --bos auto` and `xlstm generate` feed
no BOS either, which matches. With --bos prepend every training sequence is [BOS] + seq_len-1 tokens and
the perplexity is taken with BOS prepended to each window (`--bos yes` in our tool).

Perplexity (the convention of `xlstm perplexity`, src/eval/perplexity.cpp): tokenize the whole validation
text; windows = n_tokens // ctx non-overlapping windows of ctx tokens (the tail is dropped); each window is
fed from a fresh (zero) state (with --bos prepend: as [BOS] + window); the logits at window positions
j = ctx/2 .. ctx-2 predict tokens j+1 (ctx/2 - 1 = 127 scored tokens per window for ctx 256); mean NLL over
all scored tokens, perplexity = exp(mean NLL). Computed here with the official model's forward (parallel
mLSTM form) in float32 on the CPU (log-softmax in float64, as the tool does).

Usage:
  python3 scripts/train_family_shakespeare.py --device cuda --out DIR          # the real run (GPU, ~4 min)
  python3 scripts/train_family_shakespeare.py --smoke --device cpu --out /tmp/family_smoke
  python3 scripts/train_family_shakespeare.py --eval-only DIR                  # recompute the official
                                                                               # perplexity of a written DIR
Then:  build/bin/xlstm perplexity -m DIR -f tests/fixtures/tiny_shakespeare/val.txt --ctx 256 --bos no
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import shlex
import shutil
import sys
import time
import warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "tinyshakespeare.txt"
TOKENIZER = REPO / "models" / "tiny-shakespeare" / "tokenizer.json"
VAL_FILE_REL = "tests/fixtures/tiny_shakespeare/val.txt"  # == the validation split, byte for byte
SPECIAL = {"bos_token_id": "<|startoftext|>", "pad_token_id": "<|padding|>", "eos_token_id": "<|endoftext|>"}
EXTRA_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id")

warnings.filterwarnings("ignore")


def log(msg: str) -> None:
    print(msg, flush=True)


def read_text(path: Path) -> str:
    # Bytes -> str without newline translation: the same text our tool reads (binary) from the file.
    return path.read_bytes().decode("utf-8")


def load_splits(path: Path) -> tuple[str, str]:
    text = read_text(path)
    k = int(0.9 * len(text))
    return text[:k], text[k:]


def versions() -> dict:
    out = {"python": platform.python_version()}
    for p in ("torch", "xlstm", "safetensors", "tokenizers", "numpy"):
        try:
            out[p] = pkg_version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


# ------------------------------------------------------------------------------------------------
# model config
# ------------------------------------------------------------------------------------------------


def make_config(a: dict, dropout: float, context_length: int | None = None):
    """The official config object. `a` holds the architecture arguments (see ARCH_KEYS)."""
    from xlstm import (
        FeedForwardConfig,
        mLSTMBlockConfig,
        mLSTMLayerConfig,
        sLSTMBlockConfig,
        sLSTMLayerConfig,
        xLSTMLMModelConfig,
    )

    slstm_at = list(a["slstm_at"])
    mlstm_block = None
    slstm_block = None
    if len(slstm_at) < a["num_blocks"]:
        mlstm_block = mLSTMBlockConfig(
            mlstm=mLSTMLayerConfig(
                conv1d_kernel_size=a["conv1d_kernel_size"],
                qkv_proj_blocksize=a["qkv_proj_blocksize"],
                num_heads=a["mlstm_heads"],
                proj_factor=a["mlstm_proj_factor"],
            )
        )
    if slstm_at:
        slstm_block = sLSTMBlockConfig(
            slstm=sLSTMLayerConfig(
                backend="vanilla",
                num_heads=a["slstm_heads"],
                conv1d_kernel_size=a["conv1d_kernel_size"],
                bias_init="powerlaw_blockdependent",
            ),
            feedforward=FeedForwardConfig(proj_factor=a["ffn_proj_factor"], act_fn=a["ffn_act_fn"], dropout=dropout),
        )
    return xLSTMLMModelConfig(
        mlstm_block=mlstm_block,
        slstm_block=slstm_block,
        context_length=context_length or a["context_length"],
        num_blocks=a["num_blocks"],
        embedding_dim=a["embedding_dim"],
        slstm_at=slstm_at,
        vocab_size=a["vocab_size"],
        tie_weights=a["tie_weights"],
        bias=a["bias"],
        dropout=dropout,
    )


def config_from_json(d: dict, context_length: int | None = None):
    """Rebuild the official config from a config.json dict (public fields only; the package's
    __post_init__ recomputes the derived '_' fields). Asserts the round trip is exact."""
    from xlstm import (
        FeedForwardConfig,
        mLSTMBlockConfig,
        mLSTMLayerConfig,
        sLSTMBlockConfig,
        sLSTMLayerConfig,
        xLSTMLMModelConfig,
    )

    def pub(x: dict) -> dict:
        return {k: v for k, v in x.items() if not k.startswith("_")}

    def build(d: dict):
        mb = sb = None
        if d.get("mlstm_block") is not None:
            mb = mLSTMBlockConfig(mlstm=mLSTMLayerConfig(**pub(d["mlstm_block"]["mlstm"])))
        if d.get("slstm_block") is not None:
            ff = d["slstm_block"].get("feedforward")
            sb = sLSTMBlockConfig(
                slstm=sLSTMLayerConfig(**pub(d["slstm_block"]["slstm"])),
                feedforward=FeedForwardConfig(**pub(ff)) if ff is not None else None,
            )
        top = pub({k: v for k, v in d.items() if k not in ("mlstm_block", "slstm_block")})
        return xLSTMLMModelConfig(mlstm_block=mb, slstm_block=sb, **top)

    d = {k: v for k, v in d.items() if k not in EXTRA_KEYS}
    cfg = build(d)
    assert dataclasses.asdict(cfg) == d, "config.json does not round-trip through xLSTMLMModelConfig"
    if context_length is not None and context_length > cfg.context_length:
        cfg = build({**d, "context_length": context_length})  # only sizes the parallel form's causal mask
    return cfg


def build_model(cfg):
    from xlstm import xLSTMLMModel

    model = xLSTMLMModel(cfg)
    model.reset_parameters()
    return model


def float32_state_dict(model) -> dict:
    import torch

    # state_dict lists a tied tensor under both names; clone() makes them separate copies.
    return {k: v.detach().to("cpu", dtype=torch.float32).clone().contiguous() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------


def perplexity_official(model, tokens: list[int], ctx: int, bos_id: int | None, batch: int = 8) -> dict:
    """The `xlstm perplexity` convention (src/eval/perplexity.cpp), with the official forward."""
    import torch

    n = len(tokens)
    windows = n // ctx
    first = ctx // 2
    shift = 1 if bos_id is not None else 0
    t = torch.tensor(tokens[: windows * ctx], dtype=torch.long).view(windows, ctx)
    dev = next(model.parameters()).device
    nll_sum, scored = 0.0, 0
    model.eval()
    with torch.no_grad():
        for w0 in range(0, windows, batch):
            win = t[w0 : w0 + batch]
            inp = win if bos_id is None else torch.cat([torch.full((len(win), 1), bos_id, dtype=torch.long), win], 1)
            logits = model(inp.to(dev)).float().cpu()  # [B, S, V]
            pred = logits[:, first + shift : ctx - 1 + shift].double()  # positions j = first .. ctx-2
            tgt = win[:, first + 1 : ctx]
            lp = torch.log_softmax(pred, dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
            nll_sum += float(-lp.sum())
            scored += tgt.numel()
    mean = nll_sum / scored
    return {"tokens": n, "ctx": ctx, "windows": windows, "scored_tokens": scored,
            "bos": "prepended" if bos_id is not None else "none", "mean_nll": mean, "perplexity": math.exp(mean)}


def eval_windows(ids, seq_len: int, bos_id: int | None):
    """Non-overlapping evaluation windows, every token after the first a label exactly once.
    No BOS: x = w[:-1], y = w[1:] for windows w of seq_len+1 tokens stepping by seq_len.
    BOS: y = seq_len tokens stepping by seq_len-1... (as in training: x = [BOS] + y[:-1])."""
    import torch

    if bos_id is None:
        w = ids.unfold(0, seq_len + 1, seq_len)
        return w[:, :-1].contiguous(), w[:, 1:].contiguous()
    y = ids.unfold(0, seq_len, seq_len - 1)
    x = torch.cat([torch.full((len(y), 1), bos_id, dtype=y.dtype, device=y.device), y[:, :-1]], 1)
    return x.contiguous(), y.contiguous()


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------

ARCH_KEYS = ("embedding_dim", "num_blocks", "slstm_at", "mlstm_heads", "slstm_heads", "conv1d_kernel_size",
             "qkv_proj_blocksize", "mlstm_proj_factor", "ffn_proj_factor", "ffn_act_fn", "context_length",
             "tie_weights", "bias", "vocab_size")


def train(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from tokenizers import Tokenizer

    t_start = time.time()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tok = Tokenizer.from_file(str(args.tokenizer))
    V = tok.get_vocab_size()
    special = {k: tok.token_to_id(v) for k, v in SPECIAL.items()}
    assert all(v is not None for v in special.values()), special
    bos = special["bos_token_id"] if args.bos == "prepend" else None
    train_text, val_text = load_splits(Path(args.data))
    train_ids_l = tok.encode(train_text).ids
    val_ids_l = tok.encode(val_text).ids
    train_ids = torch.tensor(train_ids_l, dtype=torch.long, device=dev)
    val_ids = torch.tensor(val_ids_l, dtype=torch.long, device=dev)
    S = args.seq_len
    xv, yv = eval_windows(val_ids, S, bos)
    xt_all, yt_all = eval_windows(train_ids, S, bos)
    sel = torch.linspace(0, len(xt_all) - 1, min(args.train_eval_windows, len(xt_all))).long().to(dev)
    xt, yt = xt_all[sel], yt_all[sel]
    if args.val_eval_windows and args.val_eval_windows < len(xv):  # smoke runs: a subset
        sv = torch.linspace(0, len(xv) - 1, args.val_eval_windows).long().to(dev)
        xv, yv = xv[sv], yv[sv]
    log(f"vocab {V}; train {len(train_ids)} tokens, val {len(val_ids)} tokens; eval windows: val {len(xv)}, "
        f"train {len(xt)} (of {len(xt_all)}); bos {args.bos}")

    arch = {k: getattr(args, k) for k in ARCH_KEYS if k != "vocab_size"}
    arch["vocab_size"] = V
    arch["context_length"] = args.context_length or S
    assert S <= arch["context_length"], "--seq-len must be <= --context-length (parallel mLSTM mask)"
    cfg_train = make_config(arch, dropout=args.dropout)
    model = build_model(cfg_train).to(dev)
    n_params = sum(p.numel() for p in model.parameters())  # a tied tensor counts once
    log(f"layout {''.join('s' if b else 'm' for b in cfg_train.block_map)}; parameters {n_params}")

    wd, no_wd = model.get_weight_decay_optim_groups()
    opt = torch.optim.AdamW(
        [{"params": list(wd), "weight_decay": args.weight_decay}, {"params": list(no_wd), "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=(dev.type == "cuda"),
    )

    def lr_at(step: int, elapsed: float) -> float:
        # Linear warm-up, then cosine decay to min_lr_frac * lr. Progress is the larger of the step
        # fraction and the time-budget fraction, so the decay completes when the time budget ends the run.
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        prog = max((step - args.warmup) / max(1, args.max_steps - args.warmup), elapsed / args.time_budget)
        prog = min(1.0, prog)
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * prog)))

    def loss_of(x, y):
        logits = model(x)
        return F.cross_entropy(logits.reshape(-1, V).float(), y.reshape(-1))

    @torch.no_grad()
    def evaluate(x, y, bs=args.eval_batch):
        model.eval()
        tot, n = 0.0, 0
        for i in range(0, len(x), bs):
            xb, yb = x[i : i + bs], y[i : i + bs]
            tot += loss_of(xb, yb).item() * yb.numel()
            n += yb.numel()
        model.train()
        return tot / n

    tlog = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "command": " ".join(shlex.quote(c) for c in [sys.executable] + sys.argv),
            "parameters": n_params, "vocab_size": V, "special_token_ids": special,
            "train_tokens": len(train_ids_l), "val_tokens": len(val_ids_l),
            "config_context_length": arch["context_length"],
            "eval_windows": {"train": len(xt), "train_all": len(xt_all), "val": len(xv)}, "evals": [],
            "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else platform.processor() or "cpu",
            "versions": versions()}
    best = {"val": float("inf"), "step": 0}
    best_state = float32_state_dict(model)
    L = S if bos is None else S - 1  # tokens consumed beyond the offset: x and y come from ids[o : o + L + 1]
    nwin = len(train_ids) - L
    arange = torch.arange(L + 1, device=dev)
    model.train()
    t_train = time.time()
    step, run_loss, run_n, lr = 0, 0.0, 0, 0.0
    stop_reason = "max_steps"
    while step < args.max_steps:
        elapsed = time.time() - t_train
        if elapsed > args.time_budget:
            stop_reason = "time_budget"
            break
        lr = lr_at(step, elapsed)
        for g in opt.param_groups:
            g["lr"] = lr
        off = torch.randint(0, nwin, (args.batch,), device=dev)
        w = train_ids[off[:, None] + arange[None, :]]  # [B, L+1]
        if bos is None:
            x, y = w[:, :-1], w[:, 1:]
        else:
            y = w[:, :-1]
            x = torch.cat([torch.full((args.batch, 1), bos, dtype=torch.long, device=dev), y[:, :-1]], 1)
        loss = loss_of(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        run_loss += loss.detach()
        run_n += 1
        if step % args.eval_every == 0 or step == args.max_steps:
            vl = evaluate(xv, yv)
            tl = evaluate(xt, yt)
            el = time.time() - t_train
            rec = {"step": step, "time_s": round(el, 1), "lr": lr, "batch_loss": float(run_loss / run_n),
                   "grad_norm": float(gnorm), "train_loss": tl, "val_loss": vl}
            tlog["evals"].append(rec)
            run_loss, run_n = 0.0, 0
            mark = ""
            if vl < best["val"]:
                best = {"val": vl, "train": tl, "step": step, "time_s": round(el, 1)}
                best_state = float32_state_dict(model)
                mark = " *"
            log(f"step {step:5d}  t {el:6.1f}s  lr {lr:.2e}  batch {rec['batch_loss']:.4f}  "
                f"train {tl:.4f}  val {vl:.4f}{mark}")
    if dev.type == "cuda":
        torch.cuda.synchronize()
    train_wall = time.time() - t_train
    if not tlog["evals"] or tlog["evals"][-1]["step"] != step:  # the time budget ended between evals
        vl, tl = evaluate(xv, yv), evaluate(xt, yt)
        rec = {"step": step, "time_s": round(train_wall, 1), "lr": lr,
               "batch_loss": float(run_loss / max(1, run_n)), "train_loss": tl, "val_loss": vl}
        tlog["evals"].append(rec)
        log(f"step {step:5d}  t {train_wall:6.1f}s  train {tl:.4f}  val {vl:.4f}")
        if vl < best["val"]:
            best = {"val": vl, "train": tl, "step": step, "time_s": round(train_wall, 1)}
            best_state = float32_state_dict(model)
    log(f"done: {step} steps ({stop_reason}) in {train_wall:.1f}s ({step / max(train_wall, 1e-9):.2f} steps/s); "
        f"kept step {best['step']} (val {best['val']:.4f})")

    # ---- write the model directory (inference config: dropout 0) ----
    cfg_save = make_config(arch, dropout=0.0)
    cfg_dict = dataclasses.asdict(cfg_save)
    cfg_json = dict(cfg_dict)
    cfg_json.update(special)
    (out / "config.json").write_text(json.dumps(cfg_json, indent=2) + "\n")
    save_file(best_state, str(out / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(args.tokenizer, out / "tokenizer.json")

    # ---- reload from the files (CPU, float32) and evaluate with the official model ----
    t_eval = time.time()
    final = evaluate_dir(out, args, model_for_losses=(xt_all, yt_all, eval_windows(val_ids.cpu(), S, bos)))
    tlog.update(best=best, steps=step, stop_reason=stop_reason, train_wall_s=round(train_wall, 1),
                final=final, final_eval_wall_s=round(time.time() - t_eval, 1),
                total_wall_s=round(time.time() - t_start, 1))
    (out / "training_log.json").write_text(json.dumps(tlog, indent=2) + "\n")
    (out / "README.md").write_text(model_card(tlog, cfg_save, arch, args))
    log(f"final (step {best['step']}, CPU float32): train loss {final['train_loss']:.4f}, val loss "
        f"{final['val_loss']:.4f}; perplexity (ctx {args.ppl_ctx}, bos {final['perplexity']['bos']}): mean NLL "
        f"{final['perplexity']['mean_nll']:.6f}, ppl {final['perplexity']['perplexity']:.4f}")
    log(f"check: {final['tool_command']}")
    log(f"wrote {sorted(p.name for p in out.iterdir())} to {out} in {time.time() - t_start:.1f}s")


def evaluate_dir(out: Path, args: argparse.Namespace, model_for_losses=None) -> dict:
    """Load DIR/config.json + model.safetensors into a fresh official model on the CPU (float32) and compute
    the `xlstm perplexity` convention on the validation text (and, during training, the all-window losses)."""
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg_json = json.loads((out / "config.json").read_text())
    ctx = args.ppl_ctx
    bos_id = cfg_json["bos_token_id"] if args.bos == "prepend" else None
    need = max(ctx + (1 if bos_id is not None else 0), args.seq_len)
    cfg = config_from_json(cfg_json, context_length=need)
    model = build_model(cfg)
    sd = load_file(str(out / "model.safetensors"))
    assert all(v.dtype == torch.float32 for v in sd.values())
    model.load_state_dict(sd, strict=True)
    model.eval()
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    val_text = read_text(REPO / VAL_FILE_REL) if (REPO / VAL_FILE_REL).exists() else load_splits(Path(args.data))[1]
    assert val_text == load_splits(Path(args.data))[1], "val.txt differs from the validation split"
    toks = tok.encode(val_text).ids
    res = {"perplexity": perplexity_official(model, toks, ctx, bos_id, batch=args.ppl_batch)}
    res["perplexity"]["device"] = "cpu"
    res["perplexity"]["dtype"] = "float32"
    res["tool_command"] = (f"build/bin/xlstm perplexity -m {out} -f {VAL_FILE_REL} --ctx {ctx} "
                           f"--bos {'yes' if bos_id is not None else 'no'}")
    if model_for_losses is not None:
        xt_all, yt_all, (xv, yv) = model_for_losses

        @torch.no_grad()
        def mean_loss(x, y, bs=args.ppl_batch):
            tot, n = 0.0, 0
            for i in range(0, len(x), bs):
                xb, yb = x[i : i + bs].cpu(), y[i : i + bs].cpu()
                lg = model(xb)
                tot += F.cross_entropy(lg.reshape(-1, lg.shape[-1]), yb.reshape(-1), reduction="sum").item()
                n += yb.numel()
            return tot / n

        res["val_loss"] = mean_loss(xv, yv)
        res["val_windows"] = len(xv)
        if args.final_train_loss:
            res["train_loss"] = mean_loss(xt_all, yt_all)
            res["train_windows"] = len(xt_all)
        else:
            sel = torch.linspace(0, len(xt_all) - 1, min(args.train_eval_windows, len(xt_all))).long()
            res["train_loss"] = mean_loss(xt_all.cpu()[sel], yt_all.cpu()[sel])
            res["train_windows"] = len(sel)
    return res


# ------------------------------------------------------------------------------------------------
# model card
# ------------------------------------------------------------------------------------------------


def model_card(tlog: dict, cfg, arch: dict, args: argparse.Namespace) -> str:
    import torch

    fin = tlog["final"]
    ppl = fin["perplexity"]
    layout = " ".join("sLSTM" if b else "mLSTM" for b in cfg.block_map)
    n_m = sum(1 for b in cfg.block_map if b == 0)
    n_s = len(cfg.block_map) - n_m
    E = cfg.embedding_dim
    rows = []
    if cfg.mlstm_block is not None:
        ml = cfg.mlstm_block.mlstm
        rows.append(f"| mLSTM v1 block | pre-LayerNorm, up-projection {E} -> 2 x {ml._inner_embedding_dim} "
                    f"(proj_factor {ml.proj_factor}), causal conv1d k={ml.conv1d_kernel_size} + SiLU, headwise q/k/v "
                    f"(blocksize {ml.qkv_proj_blocksize}), {ml.num_heads} heads of "
                    f"{ml._inner_embedding_dim // ml.num_heads}, multi-head group norm, learnable skip, output gate "
                    f"SiLU(z), down-projection {ml._inner_embedding_dim} -> {E} |")
    if cfg.slstm_block is not None:
        sl = cfg.slstm_block.slstm
        ff = cfg.slstm_block.feedforward
        fdim = math.ceil(ff.proj_factor * E / ff.round_proj_up_to_multiple_of) * ff.round_proj_up_to_multiple_of
        rows.append(f"| sLSTM block | pre-LayerNorm, causal conv1d k={sl.conv1d_kernel_size} + SiLU (feeds i/f "
                    f"gates), headwise gate projections, {sl.num_heads} heads of {E // sl.num_heads} with "
                    f"block-diagonal recurrent matrix, exponential gating (backend `vanilla`), group norm; then "
                    f"pre-LayerNorm gated FFN {E} -> 2 x {fdim} ({ff.act_fn}, proj_factor {ff.proj_factor}) -> {E} |")
    evals = tlog["evals"]
    curve = "\n".join(f"| {e['step']} | {e['time_s']} | {e['lr']:.2e} | {e['train_loss']:.4f} | {e['val_loss']:.4f} |"
                      for e in evals)
    a = tlog["args"]
    vers = ", ".join(f"{k} {v}" for k, v in tlog["versions"].items())
    bos_text = ("No BOS is used: training sequences are plain token windows from a random offset, fed from a "
                "zero state; prompts and perplexity windows are fed without BOS (the family config has no "
                "`force_bos_token_insert`, so `xlstm perplexity --bos auto` and `xlstm generate` feed none "
                "either)." if a["bos"] == "none" else
                "Every training sequence began with BOS (id %d); feed prompts as `[BOS] + tokens` and take the "
                "perplexity with `--bos yes`." % tlog["special_token_ids"]["bos_token_id"])
    return f"""# family-shakespeare: a {tlog['parameters'] / 1e6:.2f}M-parameter original-xLSTM ({n_m}:{n_s} mLSTM:sLSTM) model on Tiny Shakespeare

A small mixed stack of the original xLSTM family (mLSTM v1 and sLSTM blocks, Beck et al. 2024), trained with
the official NX-AI package (`xlstm.xLSTMLMModel`, sLSTM backend `vanilla`) so that xlstm.cpp has a real trained
model of that family to test against. Written by `scripts/train_family_shakespeare.py`. It writes
Shakespeare-like text and is not useful for anything else.

Files: `config.json` (`json.dumps(dataclasses.asdict(xLSTMLMModelConfig))` of the inference config, dropout 0,
plus `bos_token_id` / `eos_token_id` / `pad_token_id`), `model.safetensors` (`state_dict()`, official names,
float32), `tokenizer.json` (copy of `models/tiny-shakespeare/tokenizer.json`), `training_log.json`.

## Architecture

xLSTMLMModel: token embedding -> {cfg.num_blocks} residual blocks `{layout}` (`slstm_at` {list(cfg.slstm_at)}) ->
post-blocks LayerNorm -> {'tied' if cfg.tie_weights else 'untied'} LM head. bias {cfg.bias}, LayerNorms without bias.

| | |
|---|---|
| vocab_size | {cfg.vocab_size} |
| embedding_dim | {E} |
| num_blocks | {cfg.num_blocks} ({n_m} mLSTM v1, {n_s} sLSTM) |
{chr(10).join(rows)}
| context_length (config; sizes the parallel form's mask) | {cfg.context_length} |
| parameters | **{tlog['parameters']:,}** |

## Data and split

`data/tinyshakespeare.txt` (1,115,394 characters): `k = int(0.9 * len(text))`, train = `text[:k]`, val =
`text[k:]` (also `{VAL_FILE_REL}`). Each split tokenized on its own: {tlog['train_tokens']:,} training tokens,
{tlog['val_tokens']:,} validation tokens.

## Tokenizer

`models/tiny-shakespeare/tokenizer.json`: byte-level BPE (HF `tokenizers`), vocabulary 2048, no post-processor
(encoding adds no special tokens). Ids: BOS `<|startoftext|>` {tlog['special_token_ids']['bos_token_id']},
PAD `<|padding|>` {tlog['special_token_ids']['pad_token_id']}, EOS `<|endoftext|>` {tlog['special_token_ids']['eos_token_id']}.
{bos_text}

## Training

- Official `xLSTMLMModel.forward` (parallel mLSTM form `parallel_stabilized_simple`, sLSTM `vanilla` loop),
  `reset_parameters()` init, float32 weights{', TF32 matrix products' if a['tf32'] and a['device'] == 'cuda' else ''}, on {tlog['device']} ({vers}).
- Sequences of {a['seq_len']} tokens from random offsets of the training tokens, batch {a['batch']}
  ({a['batch'] * a['seq_len']:,} tokens per step); next-token cross entropy on all positions.
- AdamW (beta 0.9/0.95, eps 1e-8), peak lr {a['lr']}, {a['warmup']} linear warm-up steps, cosine decay to
  {a['min_lr_frac']} x peak (progress = max(step / max_steps, time / time budget)), weight decay {a['weight_decay']} on
  the package's decay group (matrices; not embedding, norms, biases), gradient clipping {a['grad_clip']}, seed {a['seed']}.
- Dropout {a['dropout']} during training (config `dropout`: mLSTM/sLSTM layer outputs, FFN output); the saved
  config has dropout 0.
- Stopped after {tlog['steps']} steps ({tlog['stop_reason']}; max_steps {a['max_steps']}, time budget {a['time_budget']} s)
  in {tlog['train_wall_s']} s of training ({tlog['total_wall_s']} s for the whole process). Evaluated every
  {a['eval_every']} steps; the checkpoint kept is the one with the lowest validation loss: step {tlog['best']['step']}.

| step | time (s) | lr | train loss | val loss |
|---|---|---|---|---|
{curve}

(train loss: {tlog['eval_windows']['train']} evenly spaced training windows (of {tlog['eval_windows']['train_all']}); val loss:
{tlog['eval_windows']['val']} validation windows; non-overlapping windows of {a['seq_len']} positions from a zero state, all
positions scored, mean NLL in nats.)

**Final losses** of the kept weights, reloaded from the written files into the official model on the CPU in
float32: train {fin['train_loss']:.4f} ({fin['train_windows']} windows), **val {fin['val_loss']:.4f}** ({fin['val_windows']} windows).

## Evaluation (perplexity)

The convention of `xlstm perplexity` (`src/eval/perplexity.cpp`): tokenize the whole validation file; {ppl['windows']}
non-overlapping windows of ctx = {ppl['ctx']} tokens (the last {ppl['tokens'] - ppl['windows'] * ppl['ctx']} tokens dropped); each window fed
from a zero state{' as [BOS] + window' if ppl['bos'] == 'prepended' else ', without BOS'}; the predictions of window tokens
{ppl['ctx'] // 2 + 1}..{ppl['ctx'] - 1} from their prefixes scored ({ppl['ctx'] - 1 - ppl['ctx'] // 2} per window, {ppl['scored_tokens']:,} in all).
Reference: the official `xLSTMLMModel` forward (parallel mLSTM form), float32, CPU, log-softmax in float64.

| implementation | mean NLL | perplexity |
|---|---|---|
| official xlstm {tlog['versions']['xlstm']} `xLSTMLMModel` (fp32, CPU) | **{ppl['mean_nll']:.6f}** | **{ppl['perplexity']:.4f}** |

Reproduce with xlstm.cpp (expected to agree to well within 0.1%):

```sh
{fin['tool_command'].replace(str(Path(a['out'])), 'models/family-shakespeare')}
```

Commands:

```sh
{tlog['command']}
```

## License

The training text is Shakespeare's, in the public domain. The weights, tokenizer and this card were made by the
xlstm.cpp project and are distributed with it under the repository's terms.
"""


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------

SMOKE = dict(embedding_dim=64, num_blocks=2, slstm_at=[1], seq_len=64, batch=8, max_steps=40, eval_every=20,
             warmup=5, time_budget=60.0, train_eval_windows=8, val_eval_windows=16, threads=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="model directory to write")
    ap.add_argument("--device", default=None, choices=["cpu", "cuda"], help="default: cuda if available")
    ap.add_argument("--smoke", action="store_true", help="a few steps of a tiny model (end-to-end check on a CPU)")
    ap.add_argument("--eval-only", metavar="DIR", help="recompute the official perplexity of a written model dir")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--tokenizer", default=str(TOKENIZER))
    # architecture
    ap.add_argument("--embedding-dim", type=int, default=256)
    ap.add_argument("--num-blocks", type=int, default=4)
    ap.add_argument("--slstm-at", type=lambda s: [int(x) for x in s.split(",") if x != ""], default=[1, 3],
                    help="comma-separated sLSTM block indices (default 1,3: m s m s)")
    ap.add_argument("--mlstm-heads", type=int, default=4)
    ap.add_argument("--slstm-heads", type=int, default=4)
    ap.add_argument("--conv1d-kernel-size", type=int, default=4)
    ap.add_argument("--qkv-proj-blocksize", type=int, default=4)
    ap.add_argument("--mlstm-proj-factor", type=float, default=2.0)
    ap.add_argument("--ffn-proj-factor", type=float, default=1.3)
    ap.add_argument("--ffn-act-fn", default="gelu")
    ap.add_argument("--context-length", type=int, default=0, help="config context_length (0: --seq-len)")
    ap.add_argument("--tie-weights", action="store_true")
    ap.add_argument("--bias", action="store_true")
    # training
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--max-steps", type=int, default=600)
    ap.add_argument("--time-budget", type=float, default=170.0, help="stop training after this many seconds")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-batch", type=int, default=128)
    ap.add_argument("--train-eval-windows", type=int, default=256)
    ap.add_argument("--val-eval-windows", type=int, default=0, help="0: all validation windows")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--bos", default="none", choices=["none", "prepend"])
    ap.add_argument("--no-tf32", dest="tf32", action="store_false", help="CUDA: plain fp32 matrix products")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    # final evaluation
    ap.add_argument("--ppl-ctx", type=int, default=256)
    ap.add_argument("--ppl-batch", type=int, default=16)
    ap.add_argument("--final-train-loss", action="store_true", help="final train loss over ALL training windows")
    args = ap.parse_args()

    if args.smoke:
        for k, v in SMOKE.items():
            if ap.get_default(k) == getattr(args, k):  # explicit flags win
                setattr(args, k, v)
    if args.eval_only:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        d = Path(args.eval_only)
        lg = json.loads((d / "training_log.json").read_text()) if (d / "training_log.json").exists() else {}
        if "args" in lg:
            args.bos, args.seq_len = lg["args"]["bos"], lg["args"]["seq_len"]
        t0 = time.time()
        res = evaluate_dir(d, args)
        ppl = res["perplexity"]
        log(json.dumps(ppl))
        log(f"official (CPU fp32): mean NLL {ppl['mean_nll']:.6f}, perplexity {ppl['perplexity']:.4f} "
            f"({time.time() - t0:.1f}s)")
        if "final" in lg:
            log(f"recorded in training_log.json: mean NLL {lg['final']['perplexity']['mean_nll']:.6f}")
        log(f"check: {res['tool_command']}")
        return
    if not args.out:
        ap.error("--out is required")
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    train(args)


if __name__ == "__main__":
    main()
