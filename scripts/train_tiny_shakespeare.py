#!/usr/bin/env python3
r"""Train the bundled tiny xLSTM Large model (models/tiny-shakespeare) on Tiny Shakespeare.

Sub-commands:

  tokenizer  Train a byte-level BPE tokenizer (HF `tokenizers`) on the training split only and
             write tokenizer.json.  Runs on the CPU in a second.
  train      Train HF transformers `xLSTMForCausalLM` (xLSTM Large architecture) on the training
             split; evaluate on the validation split every --eval-every steps and keep the
             checkpoint with the lowest validation loss.  Writes the best weights as fp32
             safetensors shards (so each file stays under the GPU machine's 16 MiB transfer limit),
             the config and a JSON log.  Meant for the GPU machine; runs (slowly) on a CPU too.
  assemble   Load the shards into a freshly built `xLSTMForCausalLM` and write the published HF
             layout with `save_pretrained` (config.json + model.safetensors) next to the tokenizer.
  sweep      Run several `train` variants at once on one GPU (a 4M-parameter model leaves it
             mostly idle) and copy the one with the lowest validation loss to --out.

Data: data/tinyshakespeare.txt (1,115,394 ASCII characters).  Split by character position:
  k = int(0.9 * len(text)); train = text[:k]; val = text[k:]
Each split is tokenized on its own, without special tokens (the tokenizer has no post-processor).

Training sequences: y = seq_len consecutive training tokens from a random offset, input
x = [BOS] + y[:-1] (force_bos_token_insert = true in the config); every position is trained, the
BOS position predicting the window's first token.  The same layout, from a fresh state with all
seq_len positions scored, over windows that step by seq_len-1 tokens, defines the reported
train/val losses.

Commands used for the bundled model (see models/tiny-shakespeare/README.md):
  python3 scripts/train_tiny_shakespeare.py tokenizer --out models/tiny-shakespeare/tokenizer.json
  # on the GPU machine (one H100): four variants at once, the lowest validation loss kept ("b")
  python3 scripts/train_tiny_shakespeare.py sweep --tokenizer models/tiny-shakespeare/tokenizer.json \
      --device cuda --work /tmp/sw --out $OUT/run \
      --variant "a:--dropout 0.2 --max-steps 500 --eval-every 50" \
      --variant "b:--dropout 0.3 --max-steps 700 --eval-every 50" \
      --variant "c:--dropout 0.3 --max-steps 1000 --eval-every 50 --weight-decay 0.3" \
      --variant "d:--dropout 0.4 --max-steps 1000 --eval-every 50"
  #   (variant b alone: python3 scripts/train_tiny_shakespeare.py train \
  #      --tokenizer models/tiny-shakespeare/tokenizer.json --out run --dropout 0.3 --max-steps 700 --eval-every 50)
  python3 scripts/train_tiny_shakespeare.py assemble --run <fetched run dir> --out models/tiny-shakespeare
GPU training is not bit-reproducible (nondeterministic CUDA reductions); the tokenizer is.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "tinyshakespeare.txt"

SPECIAL_TOKENS = ["<|startoftext|>", "<|padding|>", "<|endoftext|>"]  # ids 0, 1, 2
BOS_ID, PAD_ID, EOS_ID = 0, 1, 2


def load_splits(path: Path = DATA) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8")
    k = int(0.9 * len(text))
    return text[:k], text[k:]


# ----------------------------------------------------------------------------------------------
# tokenizer
# ----------------------------------------------------------------------------------------------


def cmd_tokenizer(args: argparse.Namespace) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    train_text, _ = load_splits(Path(args.data))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([train_text], trainer=trainer)
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(out))
    ids = tok.encode(train_text).ids
    assert tok.decode(ids) == train_text
    print(f"tokenizer: vocab {tok.get_vocab_size()} -> {out}; train split {len(train_text)} chars -> "
          f"{len(ids)} tokens ({len(train_text) / len(ids):.3f} chars/token)")


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------


def model_config_kwargs(args: argparse.Namespace, vocab_size: int) -> dict:
    return dict(
        vocab_size=vocab_size,
        hidden_size=args.embedding_dim,
        embedding_dim=args.embedding_dim,
        num_hidden_layers=args.blocks,
        num_blocks=args.blocks,
        num_heads=args.heads,
        use_bias=False,
        norm_reduction_force_float32=True,
        tie_word_embeddings=False,
        add_out_norm=True,
        norm_eps=1e-6,
        qk_dim_factor=0.5,
        v_dim_factor=1.0,
        chunkwise_kernel="chunkwise--native_autograd",
        sequence_kernel="native_sequence__native",
        step_kernel="native",
        mode="inference",
        chunk_size=64,
        return_last_states=True,
        autocast_kernel_dtype="bfloat16",
        eps=1e-6,
        inference_state_dtype="float32",
        ffn_proj_factor=2.667,
        ffn_round_up_to_multiple_of=64,
        gate_soft_cap=15.0,
        output_logit_soft_cap=30.0,
        weight_mode="single",
        use_cache=True,
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        max_inference_chunksize=16384,
    )


def build_model(cfg_kwargs: dict, mode: str, force_bos_token_insert: bool | None = None):
    from transformers import xLSTMConfig, xLSTMForCausalLM

    kw = dict(cfg_kwargs)
    kw["mode"] = mode
    if force_bos_token_insert is not None:  # only read by xlstm.cpp / the card; not by HF
        kw["force_bos_token_insert"] = force_bos_token_insert
    config = xLSTMConfig(**kw)
    assert config.qk_dim == int(config.hidden_size * config.qk_dim_factor), "qk dim must be a multiple of 64"
    assert config.v_dim == int(config.hidden_size * config.v_dim_factor), "v dim must be a multiple of 64"
    return xLSTMForCausalLM(config)


def windows_bos(tokens, seq_len: int, bos: int):
    """Non-overlapping windows: labels y = seq_len consecutive tokens (windows step by seq_len-1,
    so every token after the first is a label exactly once); inputs x = [BOS] + y[:-1]."""
    import torch

    y = tokens.unfold(0, seq_len, seq_len - 1)
    x = torch.cat([torch.full((len(y), 1), bos, dtype=y.dtype, device=y.device), y[:, :-1]], dim=1)
    return x.contiguous(), y.contiguous()


def cmd_train(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file
    from tokenizers import Tokenizer

    t_start = time.time()
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tok = Tokenizer.from_file(args.tokenizer)
    V = tok.get_vocab_size()
    train_text, val_text = load_splits(Path(args.data))
    train_ids = torch.tensor(tok.encode(train_text).ids, dtype=torch.long, device=dev)
    val_ids = torch.tensor(tok.encode(val_text).ids, dtype=torch.long, device=dev)
    S = args.seq_len
    xv, yv = windows_bos(val_ids, S, BOS_ID)
    xt_all, yt_all = windows_bos(train_ids, S, BOS_ID)
    sel = torch.linspace(0, len(xt_all) - 1, min(args.train_eval_windows, len(xt_all))).long().to(dev)
    xt, yt = xt_all[sel], yt_all[sel]
    print(f"vocab {V}; train {len(train_ids)} tokens, val {len(val_ids)} tokens; "
          f"eval windows: val {len(xv)}, train {len(xt)} (of {len(xt_all)})", flush=True)

    cfg_kwargs = model_config_kwargs(args, V)
    model = build_model(cfg_kwargs, mode="train").to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters {n_params}", flush=True)

    # Dropout during training only (hooks; the architecture and the saved weights are unchanged).
    hooks = []
    if args.dropout > 0:
        p = args.dropout

        def drop_tensor(_m, _i, o):
            return F.dropout(o, p, training=model.training)

        def drop_first(_m, _i, o):
            return (F.dropout(o[0], p, training=model.training),) + tuple(o[1:])

        hooks.append(model.backbone.embeddings.register_forward_hook(drop_tensor))
        for blk in model.backbone.blocks:
            hooks.append(blk.mlstm_layer.register_forward_hook(drop_first))
            hooks.append(blk.ffn.register_forward_hook(drop_tensor))

    decay, no_decay = [], []
    for name, prm in model.named_parameters():
        (decay if prm.dim() >= 2 and "embeddings" not in name else no_decay).append(prm)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=(dev.type == "cuda"),
    )

    def lr_at(step: int, elapsed: float) -> float:
        # Linear warmup, then cosine decay to min_lr_frac * lr.  Progress is the larger of the
        # step fraction and the time-budget fraction, so the decay completes even when the time
        # budget, not max_steps, ends the run.
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        prog = max((step - args.warmup) / max(1, args.max_steps - args.warmup), elapsed / args.time_budget)
        prog = min(1.0, prog)
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * prog)))

    def loss_of(x, y):
        logits = model(input_ids=x, use_cache=False).logits
        return F.cross_entropy(logits.reshape(-1, V).float(), y.reshape(-1))

    @torch.no_grad()
    def evaluate(x, y, bs=64):
        model.eval()
        tot, n = 0.0, 0
        for i in range(0, len(x), bs):
            xb, yb = x[i : i + bs], y[i : i + bs]
            tot += loss_of(xb, yb).item() * yb.numel()
            n += yb.numel()
        model.train()
        return tot / n

    log = {"args": vars(args), "parameters": n_params, "vocab_size": V, "train_tokens": len(train_ids),
           "val_tokens": len(val_ids), "evals": [], "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
           "torch": torch.__version__}
    import transformers
    log["transformers"] = transformers.__version__
    best = {"val": float("inf")}
    nwin = len(train_ids) - S + 1
    arange = torch.arange(S, device=dev)
    bos_col = torch.full((args.batch, 1), BOS_ID, dtype=torch.long, device=dev)
    model.train()
    t_train = time.time()
    step, run_loss, run_n = 0, 0.0, 0
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
        idx = off[:, None] + arange[None, :]
        y = train_ids[idx]
        x = torch.cat([bos_col, y[:, :-1]], dim=1)
        loss = loss_of(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        step += 1
        run_loss += loss.detach()
        run_n += 1
        if step % args.eval_every == 0 or step == args.max_steps:
            vl = evaluate(xv, yv)
            tl = evaluate(xt, yt)
            el = time.time() - t_train
            rec = {"step": step, "time_s": round(el, 1), "lr": lr,
                   "batch_loss": (run_loss / run_n).item(), "train_loss": tl, "val_loss": vl}
            log["evals"].append(rec)
            run_loss, run_n = 0.0, 0
            mark = ""
            if vl < best["val"]:
                best = {"val": vl, "train": tl, "step": step, "time_s": el}
                best_state = {k: v.detach().to("cpu", torch.float32).clone().contiguous()
                              for k, v in model.state_dict().items()}
                mark = " *"
            print(f"step {step:5d}  t {el:6.1f}s  lr {rec['lr']:.2e}  batch {rec['batch_loss']:.4f}  "
                  f"train {tl:.4f}  val {vl:.4f}{mark}", flush=True)
            if args.patience and step - best["step"] >= args.patience * args.eval_every:
                stop_reason = "early_stop"
                break
    if dev.type == "cuda":
        torch.cuda.synchronize()
    train_wall = time.time() - t_train
    for h in hooks:
        h.remove()
    # Final losses of the kept (best-val) weights over ALL windows of each split.
    model.load_state_dict({k: v.to(dev) for k, v in best_state.items()})
    best["train_all_windows"] = evaluate(xt_all, yt_all)
    best["val_all_windows"] = evaluate(xv, yv)
    log.update(best=best, steps=step, stop_reason=stop_reason, train_wall_s=train_wall,
               total_wall_s=time.time() - t_start)
    print(f"done: {step} steps ({stop_reason}) in {train_wall:.1f}s; best step {best['step']}: "
          f"train {best['train_all_windows']:.4f} (all {len(xt_all)} windows) val {best['val']:.4f}", flush=True)

    # Save the best weights in shards of at most ~12 MiB each.
    keys = sorted(best_state)
    shards, cur, size = [], {}, 0
    for k in keys:
        nb = best_state[k].numel() * 4
        if cur and size + nb > 12 * 2**20:
            shards.append(cur)
            cur, size = {}, 0
        cur[k] = best_state[k]
        size += nb
    shards.append(cur)
    for i, sh in enumerate(shards):
        save_file(sh, str(out / f"weights-{i:02d}.safetensors"), metadata={"format": "pt"})
    (out / "model_config.json").write_text(json.dumps(cfg_kwargs, indent=2) + "\n")
    log["shards"] = len(shards)
    (out / "train_log.json").write_text(json.dumps(log, indent=2) + "\n")


# ----------------------------------------------------------------------------------------------
# assemble
# ----------------------------------------------------------------------------------------------


def cmd_assemble(args: argparse.Namespace) -> None:
    import torch
    from safetensors.torch import load_file

    run = Path(args.run)
    cfg_kwargs = json.loads((run / "model_config.json").read_text())
    state = {}
    for f in sorted(run.glob("weights-*.safetensors")):
        state.update(load_file(str(f)))
    model = build_model(cfg_kwargs, mode="inference", force_bos_token_insert=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    # Check: the saved files reload to the same tensors.
    from safetensors.torch import load_file as lf

    saved = lf(str(out / "model.safetensors"))
    assert set(saved) == set(state), (set(saved) ^ set(state))
    for k in state:
        assert saved[k].dtype == torch.float32 and torch.equal(saved[k], state[k]), k
    print(f"assembled {len(state)} tensors, {sum(v.numel() for v in state.values())} parameters -> {out}")


def cmd_sweep(args: argparse.Namespace) -> None:
    """Train several variants at once (the GPU is far from busy with one small model) and copy
    the one with the lowest validation loss to --out."""
    import shlex
    import shutil
    import subprocess

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    procs = {}
    for spec in args.variant:
        name, flags = spec.split(":", 1)
        cmd = [sys.executable, __file__, "train", "--tokenizer", args.tokenizer, "--device", args.device,
               "--out", str(work / name)] + shlex.split(flags)
        print("launch", name, " ".join(cmd), flush=True)
        procs[name] = (subprocess.Popen(cmd, stdout=open(work / f"{name}.log", "w"), stderr=subprocess.STDOUT), cmd)
    results = {}
    for name, (p, cmd) in procs.items():
        rc = p.wait()
        logf = work / name / "train_log.json"
        if rc == 0 and logf.exists():
            lg = json.loads(logf.read_text())
            results[name] = {"cmd": " ".join(cmd), "best": lg["best"], "steps": lg["steps"],
                             "train_wall_s": lg["train_wall_s"], "stop_reason": lg["stop_reason"]}
        else:
            results[name] = {"cmd": " ".join(cmd), "rc": rc}
        print(name, json.dumps(results[name]), flush=True)
    ok = {n: r for n, r in results.items() if "best" in r}
    if not ok:
        for name in procs:
            print(f"==== {name}.log tail\n" + (work / f"{name}.log").read_text()[-3000:])
        sys.exit(1)
    chosen = min(ok, key=lambda n: ok[n]["best"]["val"])
    print("chosen", chosen, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for f in (work / chosen).iterdir():
        shutil.copy(f, out / f.name)
    logs = {n: (work / f"{n}.log").read_text() for n in procs}
    (out / "sweep.json").write_text(json.dumps({"chosen": chosen, "results": results, "logs": logs}, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("tokenizer")
    t.add_argument("--data", default=str(DATA))
    t.add_argument("--vocab-size", type=int, default=2048)
    t.add_argument("--out", required=True)

    r = sub.add_parser("train")
    r.add_argument("--data", default=str(DATA))
    r.add_argument("--tokenizer", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--device", default="cuda")
    r.add_argument("--embedding-dim", type=int, default=256)
    r.add_argument("--heads", type=int, default=4)
    r.add_argument("--blocks", type=int, default=4)
    r.add_argument("--seq-len", type=int, default=256)
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--lr", type=float, default=2e-3)
    r.add_argument("--min-lr-frac", type=float, default=0.1)
    r.add_argument("--warmup", type=int, default=100)
    r.add_argument("--max-steps", type=int, default=3000)
    r.add_argument("--time-budget", type=float, default=420.0, help="stop training after this many seconds")
    r.add_argument("--eval-every", type=int, default=100)
    r.add_argument("--patience", type=int, default=0, help="stop after this many evals without improvement (0: never)")
    r.add_argument("--train-eval-windows", type=int, default=256)
    r.add_argument("--weight-decay", type=float, default=0.1)
    r.add_argument("--dropout", type=float, default=0.1)
    r.add_argument("--grad-clip", type=float, default=1.0)
    r.add_argument("--seed", type=int, default=1337)

    a = sub.add_parser("assemble")
    a.add_argument("--run", required=True)
    a.add_argument("--out", required=True)

    w = sub.add_parser("sweep")
    w.add_argument("--tokenizer", required=True)
    w.add_argument("--device", default="cuda")
    w.add_argument("--work", required=True)
    w.add_argument("--out", required=True)
    w.add_argument("--variant", action="append", required=True, help="NAME:'extra train flags'")

    args = ap.parse_args()
    {"tokenizer": cmd_tokenizer, "train": cmd_train, "assemble": cmd_assemble, "sweep": cmd_sweep}[args.cmd](args)


if __name__ == "__main__":
    main()
