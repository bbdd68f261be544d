#!/usr/bin/env python3
"""Convert an official NX-AI `xlstm` checkpoint (original family: xLSTMLMModel) into a model
directory xlstm.cpp loads: config.json (the xLSTMLMModelConfig as `dataclasses.asdict` writes it)
and model.safetensors (the state_dict under its official names).

  python3 scripts/convert_official_checkpoint.py --checkpoint model.pt --config config.json \
      --out models/my-xlstm [--tokenizer tokenizer.json] [--dtype float32|bfloat16|keep]

--checkpoint: a `torch.save` of the model's state_dict, or of a dict holding it under
  "state_dict" or "model" (a "module." / "model." prefix from DDP or Lightning is removed).
--config: the model config as JSON (asdict output, or the same fields by hand) or YAML (the
  official training configs; needs PyYAML), either the xLSTMLMModelConfig itself or a file with
  it under "model".
The config is checked by building the official config object (so defaults are filled in as the
package fills them) and the state_dict by loading it into xLSTMLMModel(config) with strict=True
on the meta device: a checkpoint that does not fit its config is refused here, not at load time.
Tied weights (tie_weights) are written as two tensors (safetensors keeps no shared storage).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file


def read_config(path: Path) -> dict:
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml  # noqa: PLC0415

        cfg = yaml.safe_load(text)
    else:
        cfg = json.loads(text)
    if "model" in cfg and isinstance(cfg["model"], dict) and "embedding_dim" not in cfg:
        cfg = cfg["model"]
    return cfg


def build_config(cfg: dict):
    """The official config object from a dict: private (underscore) fields are recomputed."""
    from dacite import Config as DaciteConfig, from_dict  # noqa: PLC0415
    from xlstm import xLSTMLMModelConfig  # noqa: PLC0415

    def public(d):
        if isinstance(d, dict):
            return {k: public(v) for k, v in d.items() if not k.startswith("_")}
        return d

    return from_dict(xLSTMLMModelConfig, public(cfg), config=DaciteConfig(strict=False))


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        sys.exit(f"error: {path}: no state_dict of tensors found")
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--config", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tokenizer", type=Path)
    ap.add_argument("--dtype", default="keep", choices=["keep", "float32", "bfloat16"])
    a = ap.parse_args()

    from xlstm import xLSTMLMModel  # noqa: PLC0415

    config = build_config(read_config(a.config))
    state = read_state_dict(a.checkpoint)
    with torch.device("meta"):
        model = xLSTMLMModel(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    # A tied head may be absent from the file; everything else must match exactly.
    missing = [k for k in missing if not (config.tie_weights and k == "lm_head.weight")]
    if missing or unexpected:
        sys.exit(f"error: {a.checkpoint} does not fit {a.config}: missing {missing[:8]}, "
                 f"unexpected {unexpected[:8]}")
    if config.tie_weights and "lm_head.weight" not in state:
        state["lm_head.weight"] = state["token_embedding.weight"]
    out = {}
    for k, v in state.items():
        v = v.detach()
        if a.dtype != "keep":
            v = v.to(getattr(torch, a.dtype))
        out[k] = v.contiguous().clone()
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1) + "\n")
    save_file(out, str(a.out / "model.safetensors"))
    if a.tokenizer:
        shutil.copy(a.tokenizer, a.out / "tokenizer.json")
    n = sum(v.numel() for k, v in out.items() if not (config.tie_weights and k == "lm_head.weight"))
    print(f"wrote {a.out}: {len(out)} tensors, {n / 1e6:.2f}M parameters, "
          f"sLSTM backend '{config.slstm_block.slstm.backend if config.slstm_block else '-'}'")


if __name__ == "__main__":
    main()
