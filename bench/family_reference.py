#!/usr/bin/env python3
"""Reference numbers for the original xLSTM family: NX-AI's `xlstm` package (xLSTMLMModel) and FlashRNN.

Model rows (per --config, an xLSTMLMModelConfig json such as bench/configs/xlstm-1.3b-7to1.json; per
sLSTM backend of --backends, "vanilla" = the package's pure-PyTorch sLSTM, "cuda" = its CUDA extension,
JIT-built by torch.utils.cpp_extension when the model is constructed):
  * random weights (the package's own reset_parameters(); fp32 parameters, see --weights-dtype),
    eval(), torch.inference_mode(), torch.autocast(bf16);
  * prefill tok/s: one pass over S=2048 tokens at B=1 and B=8: embedding -> xlstm_block_stack ->
    lm_head of the last position (--full-logits: model(ids), i.e. the logits of every position);
  * decode tok/s at B=1 and B=16: greedy model.step(token, state) for N steps after a short prompt
    that is itself step()-ed token by token (xLSTMLMModel.forward returns no state, and the mLSTM
    layer's forward has no return_last_state, so stepping is what the package supports); the note
    gives max|logit(step) - logit(forward)| at the end of the prompt as a check of the step path;
  * peak GPU memory of each row (torch.cuda.max_memory_allocated, weights included).
FlashRNN rows (--flashrnn-backends, default cuda_fused and cuda = alternating): the sLSTM recurrence
alone, one layer of 4 heads x 512, bf16, forward only, T=1024 steps per flashrnn() call, microseconds
per time step at B=1 and B=8 (the note checks the output against FlashRNN's vanilla backend).

Every job (config x backend, FlashRNN backend) runs in its own subprocess, every row in its own
try/except: a failing extension build or a CUDA fault only costs its own rows. On a GPU the CUDA
extensions are built in background processes (niced) at start-up while the vanilla rows run; rows
measured while builds were still running say so in their note (--no-prebuild: build inline).
Time: no row starts after --budget-s; a job still running at --budget-s + --grace-s is killed.

  python3 bench/family_reference.py --config bench/configs/xlstm-1.3b-7to1.json \\
      --config bench/configs/slstm-24x1024.json --budget-s 240 --json out/family_reference.json
  python3 bench/family_reference.py --device cpu --tiny --config tests/fixtures/family/m7s1/config.json

The table at the end starts with a line "## Reference" (for sed -n '/^## Reference/,$p').
"""
import argparse
import dataclasses
import importlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
import typing

GIB = 1024 ** 3
HERE = os.path.dirname(os.path.abspath(__file__))
TINY_CONFIG = os.path.join(HERE, "..", "tests", "fixtures", "family", "m7s1", "config.json")


# ----------------------------------------------------------------------------- small helpers

def int_list(s):
    return [int(x) for x in str(s).split(",") if x.strip()]


def str_list(s):
    return [x.strip() for x in str(s).split(",") if x.strip() and x.strip() != "none"]


def first_line(e, n=300):
    s = str(e).strip()
    return (s.splitlines()[0] if s else "")[:n]


def err_text(e):
    return f"{type(e).__name__}: {first_line(e)}"


def pkg_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cfg_name(path):
    return os.path.splitext(os.path.basename(path))[0] if os.path.basename(path) != "config.json" \
        else os.path.basename(os.path.dirname(os.path.abspath(path)))


class _NoSleepTime:
    """Stand-in for the `time` module inside the packages' cuda_init: both xlstm and flashrnn sleep
    random.random() * 10 s before every JIT load (a guard against concurrent builds of one extension);
    our builds are serialised by torch's own file lock, so the sleep is only lost time."""

    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def sleep(_seconds):
        return None


def patch_packages():
    """No-op the pre-build sleeps (unless XLSTM_REF_KEEP_JIT_SLEEP=1) and, when the parent decided so,
    skip torch's nvcc-vs-torch CUDA major version check (XLSTM_REF_BYPASS_CUDA_CHECK=1)."""
    if os.environ.get("XLSTM_REF_KEEP_JIT_SLEEP") != "1":
        for mod in ("xlstm.blocks.slstm.src.cuda_init", "flashrnn.flashrnn.cuda_init"):
            try:
                importlib.import_module(mod).time = _NoSleepTime()
            except Exception:  # noqa: BLE001 - package missing: its rows report that
                pass
    if os.environ.get("XLSTM_REF_BYPASS_CUDA_CHECK") == "1":
        import torch.utils.cpp_extension as ce
        ce._check_cuda_version = lambda *a, **k: None


# ----------------------------------------------------------------------------- config loading

def _strip_private(d):
    """The bench configs are dataclasses.asdict() dumps: they include the derived fields (_num_blocks,
    _block_idx, _proj_up_dim, _inner_embedding_dim, _block_map), some as null where the dataclass
    says int. The package's __post_init__ recomputes all of them, and the official configs (yaml in
    the repo's experiments) never set them, so they are dropped before the strict conversion."""
    if isinstance(d, dict):
        return {k: _strip_private(v) for k, v in d.items() if not k.startswith("_")}
    return d


def _own_from_dict(cls, data):
    """Fallback for when dacite is not importable: strict (unknown keys are errors), recursive over
    dataclass-typed fields (incl. Optional[...]), no type checks of leaves."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    kw = {}
    for k, v in data.items():
        t = hints.get(k)
        cands = [a for a in typing.get_args(t) if a is not type(None)] if typing.get_origin(t) is typing.Union \
            else [t]
        sub = next((c for c in cands if dataclasses.is_dataclass(c)), None)
        kw[k] = _own_from_dict(sub, v) if sub is not None and isinstance(v, dict) else v
    return cls(**kw)


def load_config(path, backend=None):
    """xLSTMLMModelConfig from a json file, the way the official README/experiments do it:
    dacite.from_dict(xLSTMLMModelConfig, data, config=dacite.Config(strict=True))."""
    from xlstm import xLSTMLMModelConfig

    with open(path) as f:
        data = _strip_private(json.load(f))
    if backend is not None and data.get("slstm_block"):
        data["slstm_block"]["slstm"]["backend"] = backend
    try:
        import dacite
    except ImportError:
        return _own_from_dict(xLSTMLMModelConfig, data), "own loader (dacite not importable)"
    return dacite.from_dict(xLSTMLMModelConfig, data, config=dacite.Config(strict=True)), \
        f"dacite {pkg_version('dacite')} strict"


# ----------------------------------------------------------------------------- rows and timing

class Skip(Exception):
    """A row that is not run (time budget)."""


class Recorder:
    """Rows as json lines (a killed job keeps the rows it has); every row in its own try/except."""

    def __init__(self, args, impl, config, rows_path, dev):
        self.args, self.impl, self.config, self.path, self.dev = args, impl, config, rows_path, dev
        self.soft, self.hard = args.deadlines

    def add(self, metric, value, unit="", note="", peak=None):
        row = dict(impl=self.impl, config=self.config, metric=metric, value=value, unit=unit,
                   note=note, peak_gib=peak)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"  [{self.impl} | {self.config}] {metric}: {fmt_value(row)}"
              + (f" | peak {peak:.2f} GiB" if isinstance(peak, float) else ""), flush=True)
        return row

    def measure(self, metric, fn):
        import torch

        if time.time() > self.soft:
            return self.add(metric, "SKIPPED (time budget, see --budget-s)")
        cuda = self.dev.type == "cuda"
        try:
            if cuda:
                torch.cuda.synchronize(self.dev)
                torch.cuda.reset_peak_memory_stats(self.dev)
            value, unit, note = fn()
            peak = torch.cuda.max_memory_allocated(self.dev) / GIB if cuda else None
            bg = bg_build_note(self.args) if getattr(self.args, "bg_builds", None) else ""
            if bg:
                note = f"{note}; {bg}" if note else bg
            return self.add(metric, value, unit, note, peak)
        except Skip as e:
            return self.add(metric, f"SKIPPED ({e})")
        except torch.OutOfMemoryError:
            return self.add(metric, "OOM")
        except Exception as e:  # noqa: BLE001 - one failing row must not lose the others
            traceback.print_exc()
            return self.add(metric, f"ERROR {err_text(e)}")

    def time_left(self):
        return self.hard - time.time()


def bg_build_note(args):
    """Which background builds were still running when this row finished (their CPU load can slow
    the Python-bound rows, although the builds run at nice 10)."""
    alive = [p for p in args.bg_builds if os.path.exists(p + ".running")]
    return f"{len(alive)} extension build(s) running in the background" if alive else ""


def fmt_value(row):
    v = row["value"]
    if isinstance(v, float):
        v = f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    s = f"{v} {row['unit']}".strip()
    return f"{s} ({row['note']})" if row["note"] else s


class Timer:
    """Seconds per call of fn: CUDA events on a GPU (device time between the two records, the host
    waits only at the end), perf_counter on the CPU."""

    def __init__(self, dev):
        self.dev = dev

    def sync(self):
        import torch
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def __call__(self, fn, reps=1):
        import torch

        out = []
        for _ in range(reps):
            if self.dev.type == "cuda":
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                out.append(a.elapsed_time(b) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
        return out


# ----------------------------------------------------------------------------- xLSTMLMModel job

def run_model_job(spec, args, dev):
    import torch

    backend = spec["backend"]
    rec = Recorder(args, f"xlstm sLSTM={backend}", cfg_name(spec["config"]), args.rows_out, dev)
    timer = Timer(dev)
    try:
        from xlstm import xLSTMLMModel
        cfg, how = load_config(spec["config"], backend)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        rec.add("config", f"ERROR {err_text(e)}")
        return
    n_s, n_m = cfg.block_map.count(1), cfg.block_map.count(0)
    if backend != "vanilla" and n_s == 0:
        rec.add("build", "SKIPPED (no sLSTM block: the backend does not matter)")
        return
    vanilla = backend == "vanilla"
    S = args.prefill_len
    if n_m and S > cfg.context_length:
        S = cfg.context_length  # the mLSTM parallel form masks with a context_length^2 buffer
    steps = args.vanilla_decode_steps if vanilla else args.decode_steps
    reps = args.vanilla_reps if vanilla else args.reps

    # -- build (for backend cuda this JIT-loads the extension, normally prebuilt in the background)
    t0 = time.perf_counter()
    try:
        torch.manual_seed(args.seed)
        with torch.device(dev):
            model = xLSTMLMModel(cfg)
            model.reset_parameters()
        model.eval()
        if args.weights_dtype == "bfloat16":
            model.to(torch.bfloat16)
        timer.sync()
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        rec.add("build", f"ERROR {err_text(e)}")
        return
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    wmem = torch.cuda.memory_allocated(dev) / GIB if dev.type == "cuda" else None
    rec.add("build", build_s, "s",
            f"{n_params / 1e6:,.1f} M params ({n_m} mLSTM + {n_s} sLSTM blocks), {args.weights_dtype} "
            f"weights" + (f" = {wmem:.2f} GiB" if wmem is not None else "") + f"; config via {how}"
            + ("; incl. the JIT load of the sLSTM CUDA extension" if not vanilla else ""))

    V = cfg.vocab_size
    gen = torch.Generator(device=dev).manual_seed(args.seed)

    def rand_ids(B, L):
        return torch.randint(0, V, (B, L), device=dev, generator=gen)

    def ctx():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=not args.no_autocast)

    def prefill(ids):
        if args.full_logits:
            return model(ids)
        h = model.xlstm_block_stack(model.emb_dropout(model.token_embedding(ids)))
        return model.lm_head(h[:, -1:])

    def check():
        ids = rand_ids(1, min(S, 16))
        logits = model(ids)
        timer.sync()
        if not torch.isfinite(logits).all():
            raise FloatingPointError("non-finite logits")
        return "ok", "", f"finite logits, max abs logit {logits.abs().max().item():.2f}, dtype {logits.dtype}"

    def measure_prefill(B):
        ids = rand_ids(B, S)
        if vanilla:
            # the vanilla sLSTM loops over time in Python (with a host sync per step): warm up on a
            # short prefix and extrapolate, so a row that cannot finish in time is not started
            sw = min(S, 128)
            prefill(ids[:, :sw])
            est = timer(lambda: prefill(ids[:, :sw]))[0] * S / sw
            if est * reps > rec.time_left() - 10:
                raise Skip(f"estimated {est:.0f} s per pass, {rec.time_left():.0f} s left")
        else:
            prefill(ids)  # warm-up at the full shape (cuBLAS choices, allocator)
        ts = timer(lambda: prefill(ids), reps)
        t = statistics.median(ts)
        return B * S / t, "tok/s", f"{t * 1e3:,.1f} ms per pass, median of {reps}" + (
            "" if args.full_logits else ", lm_head on the last position")

    def measure_decode(B):
        P = args.decode_prompt
        ids = rand_ids(B, P)
        state = None
        t0 = time.perf_counter()
        for t in range(P):  # the prompt, token by token: this is the state the decode carries
            logits, state = model.step(ids[:, t:t + 1], state)
        timer.sync()
        per_step = (time.perf_counter() - t0) / P
        if per_step * (steps + 2) > rec.time_left() - 10:
            raise Skip(f"estimated {per_step * 1e3:.0f} ms per step, {rec.time_left():.0f} s left")
        ref = model(ids)[:, -1]
        diff = (logits[:, -1].float() - ref.float()).abs().max().item()
        tok = logits[:, -1:].argmax(-1)
        box = {"tok": tok, "state": state}

        def run(n):
            tk, st = box["tok"], box["state"]
            for _ in range(n):
                lg, st = model.step(tk, st)
                tk = lg[:, -1:].argmax(-1)  # greedy: the next input stays on the device
            box["tok"], box["state"] = tk, st

        run(2)  # warm-up
        t = timer(lambda: run(steps))[0]
        return B * steps / t, "tok/s", (f"{t / steps * 1e3:.2f} ms/step, {steps} steps after a "
                                        f"{P}-token prompt; step vs forward: max abs dlogit {diff:.3g}")

    with torch.inference_mode(), ctx():
        rec.measure("check", check)
        for B in args.prefill_batch:
            rec.measure(f"prefill B={B} S={S}", lambda B=B: measure_prefill(B))
        for B in args.decode_batch:
            rec.measure(f"decode B={B}", lambda B=B: measure_decode(B))


# ----------------------------------------------------------------------------- FlashRNN job

def flashrnn_config(backend, args):
    """FlashRNN's own flashrnn() builds this config from the tensors (_get_config) with batch_size =
    B; the kernels read B at run time (alternating) or pad it to a multiple of 8 (fused bf16), and
    batch_size only enters the build as an unused define and the fused tiling's BATCH_DIM = B rounded
    up to 8. So batch_size is pinned to 8: one build per backend serves B=1 and B=8."""
    from flashrnn import FlashRNNConfig

    return FlashRNNConfig(backend=backend, function="slstm", num_heads=args.frnn_heads,
                          head_dim=args.frnn_head_dim, batch_size=8, dtype="bfloat16",
                          dtype_w="bfloat16", dtype_r="bfloat16", dtype_b="bfloat16")


def flashrnn_inputs(args, B, T, dev, gen):
    """As FlashRNN's speed_experiments/kernel_speed_benchmark.py: Wx [B,T,G,NH,DH], R [G,NH,DH,DH]
    / sqrt(DH), b [G,NH,DH], all bf16 randn."""
    import torch

    NH, DH = args.frnn_heads, args.frnn_head_dim
    kw = dict(device=dev, dtype=torch.bfloat16, generator=gen)
    Wx = torch.randn([B, T, 4, NH, DH], **kw)
    R = torch.randn([4, NH, DH, DH], **kw) / DH ** 0.5
    b = torch.randn([4, NH, DH], **kw)
    return Wx, R, b


def run_flashrnn_job(spec, args, dev):
    import torch

    backend = spec["backend"]
    shape = f"sLSTM {args.frnn_heads}x{args.frnn_head_dim}"
    rec = Recorder(args, f"flashrnn {backend}", shape, args.rows_out, dev)
    timer = Timer(dev)
    T = args.frnn_steps
    try:
        from flashrnn import flashrnn
        patch_packages()
        cfg = flashrnn_config(backend, args)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        rec.add("import", f"ERROR {err_text(e)}")
        return
    gen = torch.Generator(device=dev).manual_seed(args.seed)

    with torch.inference_mode():
        t0 = time.perf_counter()
        try:  # first call: builds (or loads the prebuilt) extension
            Wx, R, b = flashrnn_inputs(args, max(args.frnn_batch), min(T, 8), dev, gen)
            flashrnn(Wx, R, b, config=cfg)
            timer.sync()
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            rec.add("build", f"ERROR {err_text(e)}")
            return
        rec.add("build", time.perf_counter() - t0, "s", "first call: JIT build/load of the kernel"
                + (" (fused: incl. its constraint solve and test runs)" if backend == "cuda_fused" else ""))

        def check():
            Wx, R, b = flashrnn_inputs(args, 2, min(T, 32), dev, gen)
            h = flashrnn(Wx, R, b, config=cfg)[0]
            ref = flashrnn(Wx, R, b, function="slstm", backend="vanilla", dtype="bfloat16")[0]
            timer.sync()
            if not torch.isfinite(h).all():
                raise FloatingPointError("non-finite output")
            d = (h[0].float() - ref[0].float()).abs().max().item()
            return "ok", "", f"y vs FlashRNN vanilla over {Wx.shape[1]} steps: max abs diff {d:.3g}"

        def measure(B):
            Wx, R, b = flashrnn_inputs(args, B, T, dev, gen)
            call = lambda: flashrnn(Wx, R, b, config=cfg)  # noqa: E731
            for _ in range(2):
                call()
            t = statistics.median(timer(call, args.frnn_reps))
            return t / T * 1e6, "us/step", (f"{t * 1e3:.2f} ms per {T}-step call (median of "
                                            f"{args.frnn_reps}), {B * T / t:,.0f} steps*batch/s")

        rec.measure("check", check)
        for B in args.frnn_batch:
            rec.measure(f"recurrence B={B} T={T}", lambda B=B: measure(B))


# ----------------------------------------------------------------------------- background builds

def build_main(args):
    """A background build: the same JIT load a job would do, so the job then finds it built."""
    spec = json.loads(args.child_build)
    status = {"ok": False, "error": "", "seconds": None}
    marker = args.rows_out + ".running"
    open(marker, "w").close()
    t0 = time.perf_counter()
    try:
        try:
            os.nice(10)  # leave the CPU to the timed rows running meanwhile
        except OSError:
            pass
        import torch

        patch_packages()
        if spec["kind"] == "xlstm":
            from xlstm.blocks.slstm.cell import sLSTMCellCUDA
            cfg, _ = load_config(spec["config"], "cuda")
            sLSTMCellCUDA.instance(cfg.slstm_block.slstm)
        else:
            from flashrnn import flashrnn
            dev = torch.device("cuda")
            gen = torch.Generator(device=dev).manual_seed(args.seed)
            with torch.inference_mode():
                Wx, R, b = flashrnn_inputs(args, 8, 2, dev, gen)
                flashrnn(Wx, R, b, config=flashrnn_config(spec["backend"], args))
                torch.cuda.synchronize()
        status["ok"] = True
    except BaseException as e:  # noqa: BLE001
        traceback.print_exc()
        status["error"] = err_text(e)
    finally:
        status["seconds"] = time.perf_counter() - t0
        with open(args.rows_out, "w") as f:
            json.dump(status, f)
        os.unlink(marker)


class Build:
    def __init__(self, spec, args, log_dir, env):
        self.spec = spec
        self.name = spec["kind"] + "_" + (cfg_name(spec["config"]) if "config" in spec else spec["backend"])
        self.status_path = os.path.join(log_dir, f"build_{self.name}.status")
        self.log_path = os.path.join(log_dir, f"build_{self.name}.log")
        for p in (self.status_path, self.status_path + ".running"):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [sys.executable, os.path.abspath(__file__), *args.passthrough, "--child-build",
               json.dumps(spec), "--rows-out", self.status_path]
        self.log = open(self.log_path, "w")
        open(self.status_path + ".running", "w").close()  # until the child's own marker exists
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self.t0 = time.time()

    def done(self):
        if self.proc.poll() is None:
            return False
        if os.path.exists(self.status_path + ".running") and not os.path.exists(self.status_path):
            os.unlink(self.status_path + ".running")
        return True

    def result(self):
        """(ok, message) once done."""
        try:
            with open(self.status_path) as f:
                st = json.load(f)
        except (OSError, ValueError):
            st = {"ok": False, "error": f"build process exited with code {self.proc.returncode}"}
        if st.get("ok"):
            return True, f"built in the background in {st['seconds']:.0f} s"
        msg = st.get("error", "")
        # the compiler's own words are in the log (torch's exception only says 'Error building')
        try:
            pat = r"error:|fatal error|cannot find -l|No such file or directory|ninja: build stopped|mismatch"
            with open(self.log_path, errors="replace") as f:
                hits = [ln.strip() for ln in f if re.search(pat, ln, re.I) and ln.strip() not in msg]
            hits = list(dict.fromkeys(h[:200] for h in hits))  # unique, in order
            if hits:
                msg += " | " + " | ".join(hits[:3])
        except OSError:
            pass
        return False, f"{msg} (log: {self.log_path})"

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        self.log.close()
        if os.path.exists(self.status_path + ".running"):
            os.unlink(self.status_path + ".running")


# ----------------------------------------------------------------------------- parent

def cuda_toolchain():
    """What torch.utils.cpp_extension will build with."""
    info = {}
    try:
        import torch.utils.cpp_extension as ce
        home = ce.CUDA_HOME
    except Exception as e:  # noqa: BLE001
        return {"cpp_extension": f"import failed: {err_text(e)}"}, None
    info["CUDA_HOME"] = home or "not found (no nvcc on PATH, no /usr/local/cuda, CUDA_HOME unset)"
    nvcc_ver = None
    if home:
        nvcc = os.path.join(home, "bin", "nvcc")
        try:
            out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30).stdout
            m = re.search(r"release (\d+)\.(\d+)", out)
            nvcc_ver = (int(m.group(1)), int(m.group(2))) if m else None
            info["nvcc"] = f"{m.group(1)}.{m.group(2)}" if m else out.strip()[-80:]
        except (OSError, subprocess.SubprocessError) as e:
            info["nvcc"] = f"not runnable: {err_text(e)}"
    cxx = os.environ.get("CXX", "c++")
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
        info["host compiler"] = f"{cxx}: {out.splitlines()[0] if out else '?'}"
    except (OSError, subprocess.SubprocessError) as e:
        info["host compiler"] = f"{cxx} not runnable: {err_text(e)}"
    inc = sysconfig.get_paths().get("include", "")
    info["Python.h"] = os.path.join(inc, "Python.h") if os.path.exists(os.path.join(inc, "Python.h")) \
        else f"MISSING in {inc} (extension builds will fail: python3-dev needed)"
    ninja = shutil.which("ninja")
    info["ninja"] = f"{ninja} ({pkg_version('ninja')})" if ninja else "MISSING on PATH (builds will fail)"
    if home:
        libs = []
        for lib in ("cudart", "cublas"):
            dirs = [os.path.join(home, d) for d in ("lib64", "lib", os.path.join("targets", "x86_64-linux", "lib"))]
            hit = next((d for d in dirs if os.path.exists(os.path.join(d, f"lib{lib}.so"))), None)
            libs.append(f"lib{lib}.so {'in ' + hit if hit else 'NOT FOUND under CUDA_HOME (link may fail)'}")
        info["link libs"] = "; ".join(libs)
    return info, nvcc_ver


def environment(args, dev):
    import torch

    env = {"python": sys.version.split()[0], "torch": f"{torch.__version__} (CUDA {torch.version.cuda})"}
    for mod, pkg in (("xlstm", "xlstm"), ("flashrnn", "flashrnn"), ("dacite", "dacite")):
        try:
            m = importlib.import_module(mod)
            env[pkg] = f"{pkg_version(pkg)} ({os.path.dirname(m.__file__)})"
        except Exception as e:  # noqa: BLE001
            env[pkg] = f"{pkg_version(pkg)}, import failed: {err_text(e)}"
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        env["GPU"] = f"{p.name}, {p.total_memory / GIB:.0f} GiB, sm_{p.major}{p.minor}, {p.multi_processor_count} SMs"
        try:
            drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30).stdout.strip().splitlines()
            env["driver"] = drv[0] if drv else "?"
        except (OSError, subprocess.SubprocessError):
            pass
        tool, nvcc_ver = cuda_toolchain()
        env.update(tool)
        tv = torch.version.cuda
        if nvcc_ver and tv and int(tv.split(".")[0]) != nvcc_ver[0]:
            if args.cuda_version_check == "strict":
                env["CUDA versions"] = (f"MISMATCH nvcc {nvcc_ver[0]}.{nvcc_ver[1]} vs torch {tv}: "
                                        "torch refuses to build (try --cuda-version-check bypass)")
            else:
                os.environ["XLSTM_REF_BYPASS_CUDA_CHECK"] = "1"
                env["CUDA versions"] = (f"MISMATCH nvcc {nvcc_ver[0]}.{nvcc_ver[1]} vs torch {tv}: torch's "
                                        "check bypassed, extensions link the toolkit's libs (may fail)")
        elif args.cuda_version_check == "bypass":
            os.environ["XLSTM_REF_BYPASS_CUDA_CHECK"] = "1"
        env["TORCH_CUDA_ARCH_LIST"] = os.environ.get("TORCH_CUDA_ARCH_LIST", "")
        env["MAX_JOBS (builds)"] = os.environ.get("MAX_JOBS", "")
        env["TORCH_EXTENSIONS_DIR"] = os.environ.get("TORCH_EXTENSIONS_DIR", "(default ~/.cache/torch_extensions)")
    else:
        env["device"] = f"cpu ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})"
    env["cpu cores"] = str(len(os.sched_getaffinity(0)))
    return env


def print_report(rows, env, args, t_total):
    print(f"\n## Reference: NX-AI xlstm (xLSTMLMModel) and FlashRNN, random weights"
          f"{', TINY smoke run' if args.tiny else ''} ({t_total:.0f} s)\n")
    print("| | |\n|---|---|")
    for k, v in env.items():
        print(f"| {k} | {str(v).replace('|', '/')} |")
    print(f"| settings | prefill S={args.prefill_len} B={args.prefill_batch}; decode B={args.decode_batch}, "
          f"{args.decode_steps} steps ({args.vanilla_decode_steps} vanilla) after {args.decode_prompt}-token "
          f"prompts; {args.weights_dtype} weights, autocast {'off' if args.no_autocast else 'bf16'}; "
          f"FlashRNN {args.frnn_heads}x{args.frnn_head_dim} T={args.frnn_steps} B={args.frnn_batch} |")
    print("\n| impl | config | metric | value | peak GiB | note |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        v = r["value"]
        if isinstance(v, float):
            v = f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        val = f"{v} {r['unit']}".strip()
        peak = f"{r['peak_gib']:.2f}" if isinstance(r.get("peak_gib"), float) else ""
        print(f"| {r['impl']} | {r['config']} | {r['metric']} | {val.replace('|', '/')} | {peak} | "
              f"{str(r['note']).replace('|', '/')} |")
    print(flush=True)


class Parent:
    def __init__(self, args):
        self.args = args
        self.jobs, self.extra_rows, self.env, self.builds, self.current = [], [], {}, {}, None
        self.t0 = time.time()
        self.soft = self.t0 + args.budget_s
        self.hard = self.soft + args.grace_s

    def rows(self):
        """In job order (jobs run in the order their builds allow)."""
        return [r for j in self.jobs for r in j["rows"]] + self.extra_rows

    def row(self, job, metric, value, note="", impl=None, config=None):
        r = dict(impl=impl or job["impl"], config=config or job["config_label"], metric=metric, value=value,
                 unit="", note=note, peak_gib=None)
        (job["rows"] if job is not None else self.extra_rows).append(r)
        print(f"  [{r['impl']} | {r['config']}] {metric}: {fmt_value(r)}", flush=True)

    def write_json(self):
        if not self.args.json:
            return
        d = os.path.dirname(os.path.abspath(self.args.json))
        os.makedirs(d, exist_ok=True)
        tmp = self.args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"argv": sys.argv[1:], "env": self.env, "elapsed_s": time.time() - self.t0,
                       "rows": self.rows()}, f, indent=1)
        os.replace(tmp, self.args.json)

    def child_env(self):
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start_builds(self, jobs, log_dir):
        n = sum(1 for j in jobs if j.get("build"))
        if not n:
            return
        env = self.child_env()
        if "MAX_JOBS" not in env:  # the builds run at nice 10: the timed rows keep their core
            env["MAX_JOBS"] = str(len(os.sched_getaffinity(0)))
        for j in jobs:
            if j.get("build"):
                b = Build(j["build"], self.args, log_dir, env)
                self.builds[b.name] = b
                j["build_name"] = b.name
        print(f"started {n} background extension build(s), MAX_JOBS={env['MAX_JOBS']} each, logs in {log_dir}",
              flush=True)

    def build_of(self, job):
        return self.builds.get(job.get("build_name"))

    def run_pending(self, jobs, log_dir):
        """Jobs in the given order, except that one whose extension is still building lets the next
        ready one go first; nothing starts after the soft deadline."""
        pending = list(jobs)
        while pending:
            if time.time() > self.soft:
                for j in pending:
                    b = self.build_of(j)
                    self.row(j, "job", f"SKIPPED (extension still building at the time budget, "
                                       f"{time.time() - b.t0:.0f} s)" if b is not None and not b.done()
                             else "SKIPPED (time budget, see --budget-s)")
                return
            ready = next((j for j in pending if self.build_of(j) is None or self.build_of(j).done()), None)
            if ready is None:
                time.sleep(0.5)
                continue
            pending.remove(ready)
            self.run_job(ready, log_dir)
            self.write_json()

    def run_job(self, job, log_dir):
        impl, config = job["impl"], job["config_label"]
        b, msg = self.build_of(job), ""
        if b is not None:
            ok, msg = b.result()
            print(f"  build {b.name}: {'ok' if ok else 'FAILED'}: {msg}", flush=True)
            if not ok:
                return self.row(job, "build", f"ERROR {msg}")
        fd, rows_path = tempfile.mkstemp(suffix=".jsonl", dir=log_dir)
        os.close(fd)
        cmd = [sys.executable, os.path.abspath(__file__), *self.args.passthrough,
               "--child-job", json.dumps(job["spec"]), "--rows-out", rows_path,
               "--deadlines", f"{self.soft},{self.hard}",
               "--bg-builds", ",".join(b.status_path for b in self.builds.values() if not b.done())]
        print(f"\n### {impl} | {config}" + (f" ({msg})" if msg else ""), flush=True)
        t0 = time.time()
        p = self.current = subprocess.Popen(cmd, env=self.child_env(), start_new_session=True)
        killed = False
        try:
            p.wait(timeout=max(1.0, self.hard - time.time()))
        except subprocess.TimeoutExpired:
            killed = True
        finally:  # also on SIGTERM of this process: keep the rows the job has written so far
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            self.current = None
            with open(rows_path) as f:
                job["rows"] += [json.loads(ln) for ln in f if ln.strip()]
            os.unlink(rows_path)
        if killed:
            self.row(job, "job", "KILLED at the hard limit (--budget-s + --grace-s)",
                     f"after {time.time() - t0:.0f} s")
        elif p.returncode != 0:
            self.row(job, "job", f"ERROR child exit code {p.returncode}",
                     "a crash (e.g. a CUDA fault) ends the job; its earlier rows are kept")

    def run(self):
        args = self.args
        import torch

        dev = torch.device(args.device)
        if dev.type == "cuda" and "TORCH_CUDA_ARCH_LIST" not in os.environ:
            cap = torch.cuda.get_device_capability(dev)
            os.environ["TORCH_CUDA_ARCH_LIST"] = f"{cap[0]}.{cap[1]}"  # this GPU only: faster builds
        self.env = environment(args, dev)
        print("# family_reference: " + "; ".join(f"{k} {v}" for k, v in self.env.items()), flush=True)

        log_dir = args.log_dir or (os.path.join(os.path.dirname(os.path.abspath(args.json)), "family_reference_builds")
                                   if args.json else tempfile.mkdtemp(prefix="family_reference_"))
        os.makedirs(log_dir, exist_ok=True)
        prebuild = (dev.type == "cuda" or args.force_prebuild) and not args.no_prebuild
        jobs = []
        for backend in args.backends:
            for path in args.config:
                spec = {"kind": "model", "config": path, "backend": backend}
                j = {"spec": spec, "impl": f"xlstm sLSTM={backend}", "config_label": cfg_name(path), "rows": []}
                if backend == "cuda" and prebuild:
                    try:
                        has_s = load_config(path)[0].slstm_block is not None
                    except Exception:  # noqa: BLE001 - the job itself reports the config error
                        has_s = False
                    if has_s:
                        j["build"] = {"kind": "xlstm", "config": path}
                jobs.append(j)
        for backend in args.flashrnn_backends:
            j = {"spec": {"kind": "flashrnn", "backend": backend}, "impl": f"flashrnn {backend}",
                 "config_label": f"sLSTM {args.frnn_heads}x{args.frnn_head_dim}", "rows": []}
            if backend in ("cuda", "cuda_fused") and prebuild:
                j["build"] = {"kind": "flashrnn", "backend": backend}
            jobs.append(j)
        self.jobs = jobs
        self.start_builds(jobs, log_dir)
        self.run_pending(jobs, log_dir)


def parent_main(args):
    par = Parent(args)

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        par.run()
    finally:
        if par.current is not None and par.current.poll() is None:
            os.killpg(par.current.pid, signal.SIGKILL)
        for b in par.builds.values():
            if not b.done():
                par.row(None, "background build", "KILLED (still running at the end)",
                        f"after {time.time() - b.t0:.0f} s", impl="build", config=b.name)
            b.kill()
        par.write_json()
        print_report(par.rows(), par.env, args, time.time() - par.t0)


# ----------------------------------------------------------------------------- arguments

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--config", action="append", default=[],
                    help="xLSTMLMModelConfig json (repeatable, or comma separated)")
    ap.add_argument("--budget-s", type=float, default=240, help="no row starts after this many seconds")
    ap.add_argument("--grace-s", type=float, default=90,
                    help="a job still running at budget + grace is killed (its finished rows are kept)")
    ap.add_argument("--json", help="write env and rows to this file (rewritten after every job)")
    ap.add_argument("--device", help="cuda (default when available) or cpu")
    ap.add_argument("--tiny", action="store_true",
                    help="smoke run: short sequences, few steps, small FlashRNN (default config: the m7s1 fixture)")
    ap.add_argument("--backends", type=str_list, default="vanilla,cuda",
                    help="sLSTM backends of the xlstm package, in run order")
    ap.add_argument("--flashrnn-backends", type=str_list, default=None,
                    help="FlashRNN backends (default cuda_fused,cuda; --tiny adds vanilla); none to skip")
    ap.add_argument("--prefill-len", type=int)
    ap.add_argument("--prefill-batch", type=int_list)
    ap.add_argument("--decode-batch", type=int_list)
    ap.add_argument("--decode-prompt", type=int, help="prompt tokens step()-ed before the timed decode")
    ap.add_argument("--decode-steps", type=int, help="timed decode steps (cuda backend)")
    ap.add_argument("--vanilla-decode-steps", type=int, help="timed decode steps (vanilla backend)")
    ap.add_argument("--reps", type=int, help="timed prefill passes, median (cuda backend)")
    ap.add_argument("--vanilla-reps", type=int, help="timed prefill passes (vanilla backend)")
    ap.add_argument("--frnn-heads", type=int, default=None)
    ap.add_argument("--frnn-head-dim", type=int, default=None)
    ap.add_argument("--frnn-steps", type=int, default=None, help="time steps per flashrnn() call")
    ap.add_argument("--frnn-batch", type=int_list, default=None)
    ap.add_argument("--frnn-reps", type=int, default=None)
    ap.add_argument("--weights-dtype", choices=["float32", "bfloat16"], default="float32",
                    help="parameter dtype (float32: the package's mixed-precision setting, autocast does bf16)")
    ap.add_argument("--no-autocast", action="store_true")
    ap.add_argument("--full-logits", action="store_true", help="prefill computes the logits of every position")
    ap.add_argument("--no-prebuild", action="store_true", help="build the CUDA extensions inside the jobs")
    ap.add_argument("--cuda-version-check", choices=["auto", "strict", "bypass"], default="auto",
                    help="nvcc vs torch CUDA major mismatch: auto bypasses torch's check (rows may then fail)")
    ap.add_argument("--log-dir", help="build logs (default: next to --json)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default 1 on --device cpu)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force-prebuild", action="store_true", help=argparse.SUPPRESS)  # tests the build path on a CPU
    ap.add_argument("--child-job", help=argparse.SUPPRESS)
    ap.add_argument("--child-build", help=argparse.SUPPRESS)
    ap.add_argument("--rows-out", help=argparse.SUPPRESS)
    ap.add_argument("--deadlines", help=argparse.SUPPRESS)
    ap.add_argument("--bg-builds", help=argparse.SUPPRESS)
    raw = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(raw)

    # what children get: everything but the parent-only and child-only options
    drop = {"--child-job", "--child-build", "--rows-out", "--deadlines", "--bg-builds", "--json", "--log-dir"}
    args.passthrough, skip = [], False
    for a in raw:
        if skip:
            skip = False
            continue
        key = a.split("=", 1)[0]
        if key in drop:
            skip = "=" not in a
            continue
        args.passthrough.append(a)

    args.config = [c for item in args.config for c in str_list(item)] or ([TINY_CONFIG] if args.tiny else [])
    if not args.config and not (args.child_build or args.child_job):
        args.config = []
    if args.device is None:
        import torch
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    full = dict(prefill_len=2048, prefill_batch=[1, 8], decode_batch=[1, 16], decode_prompt=16,
                decode_steps=64, vanilla_decode_steps=32, reps=3, vanilla_reps=1, frnn_heads=4,
                frnn_head_dim=512, frnn_steps=1024, frnn_batch=[1, 8], frnn_reps=5,
                flashrnn_backends=["cuda_fused", "cuda"])
    tiny = dict(prefill_len=32, prefill_batch=[1, 2], decode_batch=[1, 2], decode_prompt=4, decode_steps=4,
                vanilla_decode_steps=4, reps=2, vanilla_reps=1, frnn_heads=4, frnn_head_dim=16,
                frnn_steps=16, frnn_batch=[1, 2], frnn_reps=2, flashrnn_backends=["vanilla", "cuda_fused", "cuda"])
    for k, v in (tiny if args.tiny else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if isinstance(args.backends, str):
        args.backends = str_list(args.backends)
    if args.deadlines:
        args.deadlines = tuple(float(x) for x in args.deadlines.split(","))
    else:
        now = time.time()
        args.deadlines = (now + args.budget_s, now + args.budget_s + args.grace_s)
    args.bg_builds = [p for p in (args.bg_builds or "").split(",") if p]
    return args


def main():
    args = parse_args()
    if args.device == "cpu" or args.threads:
        import torch
        torch.set_num_threads(args.threads or 1)
    if args.child_build:
        return build_main(args)
    if args.child_job:
        import torch

        spec = json.loads(args.child_job)
        patch_packages()
        dev = torch.device(args.device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        if spec["kind"] == "model":
            run_model_job(spec, args, dev)
        else:
            run_flashrnn_job(spec, args, dev)
        return None
    if not args.config and not args.flashrnn_backends:
        sys.exit("nothing to do: give --config and/or --flashrnn-backends")
    return parent_main(args)


if __name__ == "__main__":
    main()
