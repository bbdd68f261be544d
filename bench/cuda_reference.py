#!/usr/bin/env python3
"""Reference numbers for the CUDA engine: the NX-AI `xlstm` package and HF transformers' xLSTM.

Both are timed at the shape of an HF-format config (default: the xLSTM-7B fixture) with random bf16
weights. Per implementation:
  * prefill tok/s and peak GPU memory for one B=1 forward over S tokens (state out, logits of the
    last position only: both models are run as embedding -> backbone -> lm_head(last position),
    which is exactly what their forward() computes for that position);
  * time to first token: prefill of --ttft-len tokens + argmax of the last logits, copied to the host;
  * decode tok/s: greedy one-token steps carrying the recurrent state, eager and inside a CUDA graph
    (static token/state buffers, as NX-AI's own benchmarks do it).

Implementations:
  official  xlstm.xlstm_large.model.xLSTMLarge, mode="inference", weight_mode="fused", kernels
            chunkwise--triton_limit_chunk / native_sequence__triton / triton (bf16 kernels, fp32 state).
  hf        transformers' xLSTMForCausalLM. By default its built-in pure-torch kernels: HF switches to
            the `xlstm` package whenever that is importable, so this script hides it from transformers
            (--hf-backend xlstm lets HF use it, with the same Triton kernels as `official`).

Each implementation runs in its own subprocess (a CUDA fault or leaked memory cannot spoil the other)
and every measurement in its own try/except, so one failure only costs its own rows.

  python3 bench/cuda_reference.py                 # full run on a GPU (aims at < 6 min on an H100)
  python3 bench/cuda_reference.py --smoke         # tiny config on the CPU, native kernels
"""
import argparse
import dataclasses
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG = os.path.join(HERE, "..", "tests", "fixtures", "configs", "xlstm-7b.json")
# --smoke shrinks the config: head dims stay multiples of 64 (qk 64, v 128), which HF's xLSTM needs.
SMOKE_SHAPE = dict(embedding_dim=256, num_heads=2, num_blocks=2, vocab_size=512,
                   max_inference_chunksize=128)  # small HF inference chunk: exercises its chunked prefill
TRITON_KERNELS = dict(chunkwise_kernel="chunkwise--triton_limit_chunk",
                      sequence_kernel="native_sequence__triton", step_kernel="triton")
NATIVE_KERNELS = dict(chunkwise_kernel="chunkwise--native_autograd",
                      sequence_kernel="native_sequence__native", step_kernel="native")
GIB = 1024 ** 3


# ----------------------------------------------------------------------------- model construction

def build_random(ctor, device, dtype):
    """Builds the module on the meta device (no memory, no init), materialises it on `device` in
    `dtype` and fills it randomly there: a 7B fp32 init on the CPU would take minutes."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            model = ctor()
    finally:
        torch.set_default_dtype(old)
    model = model.to_empty(device=device).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, 0.02)  # embedding and linear matrices
            elif name.endswith("bias"):
                p.normal_(0.0, 0.02)  # gate biases (the soft caps keep the gates finite)
            else:
                p.fill_(1.0)  # norm scales
    return model


class Impl:
    """prefill(ids [B, S]) -> (logits of the last position [B, 1, V], state);
    step(tok [B, 1], state) -> logits [B, 1, V], with `state` updated in place (graph-capturable).
    `autocast` runs them under torch.autocast(bf16), as NX-AI's own benchmarks do."""
    autocast = False
    graph_first = True  # decode order: the mode that matters most runs first, before any graph trouble

    def _ctx(self):
        dev = next(self.model.parameters()).device.type
        return torch.autocast(dev, dtype=torch.bfloat16, enabled=self.autocast, cache_enabled=False)

    def prefill(self, ids):
        with self._ctx():
            return self._prefill(ids)

    def step(self, tok, state):
        with self._ctx():
            return self._step(tok, state)


class OfficialImpl(Impl):
    """NX-AI's xLSTMLarge; `state` is its dict {block: (C, n, m)}."""

    def __init__(self, cfg_json, device, args):
        from xlstm.xlstm_large.model import xLSTMLarge, xLSTMLargeConfig

        kw = {f.name: cfg_json[f.name] for f in dataclasses.fields(xLSTMLargeConfig) if f.name in cfg_json}
        kernels = dict(TRITON_KERNELS, chunkwise_kernel=args.official_chunkwise)
        kw.update(mode="inference", return_last_states=True, weight_mode="fused",
                  autocast_kernel_dtype="bfloat16", inference_state_dtype="float32",
                  **(kernels if device.type == "cuda" else NATIVE_KERNELS))
        self.cfg = xLSTMLargeConfig(**kw)
        self.model = build_random(lambda: xLSTMLarge(self.cfg), device, args.dtype)
        c = self.cfg
        self.info = (f"{c.chunkwise_kernel} / {c.sequence_kernel} / {c.step_kernel}, chunk {c.chunk_size}, "
                     f"weight_mode {c.weight_mode}, {args.dtype_name} weights, {c.inference_state_dtype} state")

    def _last_logits(self, h):
        from xlstm.xlstm_large.components import soft_cap
        return soft_cap(self.model.lm_head(h[:, -1:]), self.cfg.output_logit_soft_cap)

    def _prefill(self, ids):
        h, state = self.model.backbone(self.model.embedding(ids), None)
        return self._last_logits(h), state

    def _step(self, tok, state):
        h, _ = self.model.backbone(self.model.embedding(tok), state)  # copies the new state into `state`
        return self._last_logits(h)


def hide_xlstm_from_transformers():
    """transformers' xLSTM imports its blocks from the `xlstm` package when it is installed; making
    is_xlstm_available() false before transformers.models.xlstm is imported keeps HF's own code."""
    if "transformers.models.xlstm.modeling_xlstm" in sys.modules:
        return
    import transformers.utils
    import transformers.utils.import_utils
    transformers.utils.is_xlstm_available = lambda: False
    transformers.utils.import_utils.is_xlstm_available = lambda: False


class HFImpl(Impl):
    """transformers' xLSTMForCausalLM; `state` is its xLSTMCache."""
    graph_first = False  # HF users decode eagerly (generate()); the graph numbers are extra

    def __init__(self, cfg_json, device, args):
        if args.hf_backend == "native":
            hide_xlstm_from_transformers()
        from transformers import xLSTMConfig, xLSTMForCausalLM
        import transformers.models.xlstm.modeling_xlstm as modeling

        # the json names sizes the NX-AI way; HF's primary fields would otherwise keep their 7B defaults
        d = dict(cfg_json, hidden_size=cfg_json["embedding_dim"], num_hidden_layers=cfg_json["num_blocks"],
                 mode="inference", return_last_states=True, use_cache=True,
                 autocast_kernel_dtype="bfloat16", inference_state_dtype="float32")
        if modeling.external_xlstm:
            d.update(TRITON_KERNELS if device.type == "cuda" else NATIVE_KERNELS)
        else:  # the only kernels HF has built in; the json's old *_backend_name fields are ignored
            d.update(NATIVE_KERNELS)
        self.cfg = xLSTMConfig.from_dict(d)
        self.model = build_random(lambda: xLSTMForCausalLM(self.cfg), device, args.dtype)
        c = self.cfg
        backend = "xlstm package" if modeling.external_xlstm else "transformers built-in torch kernels"
        self.info = (f"{backend}: {c.chunkwise_kernel} / {c.sequence_kernel} / {c.step_kernel}, "
                     f"chunk {c.chunk_size}, weight_mode {c.weight_mode}, {args.dtype_name} weights and cache, "
                     f"prefill split every {c.max_inference_chunksize} tokens")

    def _last_logits(self, h):
        # as xLSTMForCausalLM.forward, for the last position only
        from transformers.models.xlstm.modeling_xlstm import soft_cap
        return soft_cap(self.model.lm_head(h[:, -1:]).float(), self.cfg.output_logit_soft_cap)

    def _prefill(self, ids):
        out = self.model.backbone(input_ids=ids, use_cache=True)
        return self._last_logits(out.last_hidden_state), out.cache_params

    def _step(self, tok, cache):
        out = self.model.backbone(input_ids=tok, cache_params=cache, use_cache=True)
        return self._last_logits(out.last_hidden_state)


IMPLS = {"official": OfficialImpl, "hf": HFImpl}


# ----------------------------------------------------------------------------- measurements

def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(dev, fn):
    """Wall time of fn() with the device drained before and after."""
    sync(dev)
    t0 = time.perf_counter()
    fn()
    sync(dev)
    return time.perf_counter() - t0


def rand_ids(impl, dev, B, S):
    return torch.randint(0, impl.cfg.vocab_size, (B, S), device=dev)


def capture_graph(fn, warmup=3):
    """Warm up on a side stream (allocator and Triton caches settle), then record fn into a graph."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g


def sanity_check(impl, dev):
    """One prefill over a chunk boundary and one step at B=2; raises unless the logits are finite."""
    logits, state = impl.prefill(rand_ids(impl, dev, 2, 80))
    logits2 = impl.step(logits.argmax(-1), state)
    if not (torch.isfinite(logits).all() and torch.isfinite(logits2).all()):
        raise FloatingPointError("non-finite logits")
    return f"finite logits (max abs {logits.abs().max().item():.2f})"


def measure_prefill(impl, dev, S, reps):
    ids = rand_ids(impl, dev, 1, S)
    impl.prefill(ids)  # warm-up: Triton JIT and cuBLAS choices for this shape
    out = {}
    if dev.type == "cuda":
        base = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    times = [timed(dev, lambda: impl.prefill(ids)) for _ in range(reps)]
    t = statistics.median(times)
    out[f"prefill S={S}"] = (S / t, "tok/s", f"{t * 1e3:.1f} ms")
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
        out[f"prefill peak mem S={S}"] = (peak / GIB, "GiB", f"+{(peak - base) / GIB:.2f} GiB over weights")
    return out


def measure_ttft(impl, dev, S, reps):
    ids = rand_ids(impl, dev, 1, S)

    def first_token():
        logits, _ = impl.prefill(ids)
        return int(logits[0, -1].argmax())  # the token reaches the host: this syncs

    first_token()
    t = statistics.median(timed(dev, first_token) for _ in range(reps))
    return {f"TTFT S={S}": (t * 1e3, "ms", "")}


def measure_decode(impl, dev, B, steps, prompt_len, graph):
    _, state = impl.prefill(rand_ids(impl, dev, B, prompt_len))  # a non-trivial state to carry
    tok = rand_ids(impl, dev, B, 1)  # static input buffer

    def step():  # greedy: the argmax becomes the next input, in the same buffer
        tok.copy_(impl.step(tok, state).argmax(-1))

    if graph:
        run = capture_graph(step).replay
    else:
        for _ in range(3):
            step()
        run = step
    t = timed(dev, lambda: [run() for _ in range(steps)])
    mode = "graph" if graph else "eager"
    return {f"decode B={B} ({mode})": (B * steps / t, "tok/s", f"{t / steps * 1e3:.2f} ms/step")}


class Recorder:
    """Runs each measurement in try/except; rows are (impl, metric, value, unit, note)."""

    def __init__(self, impl_name, dev, deadline):
        self.impl, self.dev, self.deadline, self.rows = impl_name, dev, deadline, []

    def add(self, metric, value, unit="", note=""):
        self.rows.append(dict(impl=self.impl, metric=metric, value=value, unit=unit, note=note))
        print(f"  {self.impl:8s} {metric:28s} {fmt_value(self.rows[-1])}", flush=True)

    def measure(self, label, fn):
        if time.monotonic() > self.deadline:
            return self.add(label, "SKIPPED (time budget, see --budget-s)")
        try:
            with torch.inference_mode():
                results = fn()
            for metric, (value, unit, note) in results.items():
                self.add(metric, value, unit, note)
        except torch.OutOfMemoryError:
            self.add(label, "OOM")
        except Exception as e:  # noqa: BLE001 - a crash (e.g. Triton) must not lose the other rows
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            self.add(label, f"ERROR {type(e).__name__}: {msg}")
        finally:
            gc.collect()
            if self.dev.type == "cuda":
                torch.cuda.empty_cache()


def run_impl(name, args, cfg_json, dev):
    """All measurements of one implementation, in this process."""
    rec = Recorder(name, dev, time.monotonic() + args.budget_s)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    try:
        impl = IMPLS[name](cfg_json, dev, args)
    except Exception as e:  # noqa: BLE001
        rec.add("build", f"ERROR {type(e).__name__}: {str(e).strip()[:200]}")
        return rec.rows
    sync(dev)
    n_params = sum(p.numel() for p in impl.model.parameters())
    rec.add("kernels", impl.info)
    rec.add("params", n_params / 1e9, "B", f"built in {time.perf_counter() - t0:.1f} s")

    # mlstm_kernels' native chunkwise kernel mixes dtypes on bf16 inputs unless autocast is on:
    # with --autocast auto, a failed check is retried under autocast.
    errors = []
    for impl.autocast in {"auto": [False, True], "off": [False], "on": [True]}[args.autocast]:
        try:
            with torch.inference_mode():
                rec.add("check", f"{sanity_check(impl, dev)}; autocast {'on' if impl.autocast else 'off'}")
            break
        except Exception as e:  # noqa: BLE001
            errors.append(f"autocast {'on' if impl.autocast else 'off'}: {type(e).__name__}: {str(e).strip()[:160]}")
    else:
        rec.add("check", "ERROR " + " / ".join(errors))
        return rec.rows
    if errors:
        rec.add("check failed first", errors[0])

    for S in args.prefill:
        rec.measure(f"prefill S={S}", lambda S=S: measure_prefill(impl, dev, S, args.reps))
    rec.measure(f"TTFT S={args.ttft_len}", lambda: measure_ttft(impl, dev, args.ttft_len, max(args.reps, 5)))
    modes = [impl.graph_first, not impl.graph_first] if dev.type == "cuda" else [False]  # no CPU graphs
    for graph in modes:
        for B in args.decode_batch:
            label = f"decode B={B} ({'graph' if graph else 'eager'})"
            rec.measure(label, lambda B=B, graph=graph: measure_decode(
                impl, dev, B, args.decode_steps, args.decode_prompt, graph))
    return rec.rows


# ----------------------------------------------------------------------------- driver and report

def environment(dev):
    env = {"python": platform.python_version()}
    for pkg in ["torch", "triton", "transformers", "xlstm", "mlstm_kernels"]:
        try:
            env[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            env[pkg] = "not installed"
    try:
        import xlstm
        env["xlstm path"] = os.path.dirname(xlstm.__file__)
    except Exception as e:  # noqa: BLE001
        env["xlstm path"] = f"import failed: {e}"
    env["device"] = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({os.cpu_count()} cores)"
    return env


def run_child(name, args):
    """Runs one implementation in a fresh interpreter; its rows come back through a json file."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    cmd = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--impl", name, "--child", path]
    try:
        rc = subprocess.run(cmd, timeout=args.budget_s + 120).returncode
        with open(path) as f:
            data = json.load(f)
        if rc != 0:
            data["rows"].append(dict(impl=name, metric="exit", value=f"ERROR child exit code {rc}", unit="", note=""))
        return data
    except (subprocess.TimeoutExpired, OSError, ValueError) as e:
        return {"rows": [dict(impl=name, metric="run", value=f"ERROR {type(e).__name__}: {e}", unit="", note="")],
                "env": {}}
    finally:
        os.unlink(path)


def fmt_value(row):
    v = row["value"]
    if isinstance(v, float):
        v = f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    s = f"{v} {row['unit']}".strip()
    return f"{s} ({row['note']})" if row["note"] else s


def print_report(rows, env, args):
    print(f"\n## Reference xLSTM benchmark ({os.path.basename(args.config)}{', smoke' if args.smoke else ''})\n")
    print("| impl | metric | value |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['impl']} | {r['metric']} | {fmt_value(r).replace('|', '/')} |")
    print("\n| version | |\n|---|---|")
    for k, v in env.items():
        print(f"| {k} | {v} |")


def int_list(s):
    return [int(x) for x in s.split(",") if x]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", default="official,hf", help="comma list of: official, hf")
    ap.add_argument("--config", default=DEFAULT_CONFIG, help="HF-format xLSTM config.json")
    ap.add_argument("--prefill", type=int_list, help="prompt lengths, B=1 (default 512,2048,8192,32768)")
    ap.add_argument("--decode-batch", type=int_list, help="decode batch sizes (default 1,16,64,256)")
    ap.add_argument("--decode-steps", type=int, help="timed decode steps after warm-up (default 64)")
    ap.add_argument("--decode-prompt", type=int, help="prompt length that makes the decode state (default 64)")
    ap.add_argument("--ttft-len", type=int, help="prompt length of the time-to-first-token run (default 2048)")
    ap.add_argument("--reps", type=int, help="timed prefill repetitions, median reported (default 3)")
    ap.add_argument("--official-chunkwise", default=TRITON_KERNELS["chunkwise_kernel"],
                    help="chunkwise kernel of the official model (triton_xl_chunk crashes Triton 3.6)")
    ap.add_argument("--hf-backend", choices=["native", "xlstm"], default="native",
                    help="native: transformers' own torch kernels; xlstm: let HF use the xlstm package")
    ap.add_argument("--budget-s", type=float, default=200,
                    help="per implementation: measurements not started by then are skipped")
    ap.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16", help="weight dtype")
    ap.add_argument("--autocast", choices=["auto", "on", "off"], default="auto",
                    help="run under torch.autocast(bf16); auto: only if the start-up check fails without")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write rows and versions to this file")
    ap.add_argument("--smoke", action="store_true", help="tiny config on the CPU with the native kernels")
    ap.add_argument("--in-process", action="store_true", help="run all implementations in this process")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    defaults = dict(prefill=[512, 2048, 8192, 32768], decode_batch=[1, 16, 64, 256], decode_steps=64,
                    decode_prompt=64, ttft_len=2048, reps=3)
    if args.smoke:
        defaults.update(prefill=[64, 200], decode_batch=[1, 4], decode_steps=8, decode_prompt=16,
                        ttft_len=64, reps=2)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.dtype_name, args.dtype = args.dtype, getattr(torch, args.dtype)
    return args


def main():
    args = parse_args()
    with open(args.config) as f:
        cfg_json = json.load(f)
    if args.smoke:
        cfg_json.update(SMOKE_SHAPE)
    dev = torch.device("cpu" if args.smoke or not torch.cuda.is_available() else "cuda")

    if args.child:  # one implementation, rows handed back to the parent
        rows = run_impl(args.impl, args, cfg_json, dev)
        with open(args.child, "w") as f:
            json.dump({"rows": rows, "env": environment(dev)}, f)
        return

    impls = [x for x in args.impl.split(",") if x]
    for name in impls:
        if name not in IMPLS:
            sys.exit(f"unknown impl {name!r}; choose from {', '.join(IMPLS)}")
    print(f"device {dev}, impls {impls}, prefill {args.prefill}, decode B {args.decode_batch} "
          f"x {args.decode_steps} steps", flush=True)
    rows, env = [], {}
    for name in impls:
        if args.in_process or len(impls) == 1:
            rows += run_impl(name, args, cfg_json, dev)
            env = environment(dev)
        else:
            data = run_child(name, args)
            rows += data["rows"]
            env = data["env"] or env
    print_report(rows, env, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": args.config, "smoke": args.smoke, "rows": rows, "env": env}, f, indent=1)


if __name__ == "__main__":
    main()
