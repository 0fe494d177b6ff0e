"""Resumable training states: written atomically, found again after a crash or a kill.

A state is a folder `checkpoints/step-00000010/` holding the trainable weights
(`trainable.safetensors`), the optimizer (`optimizer.pt`), the random generators (`rng.pt`)
and the rest as JSON (`state.json`: step, data position, tokens, elapsed time, schedule,
settings fingerprint). It is written into a temporary folder, flushed, and renamed into place,
and only then named in `LATEST`; a kill at any moment leaves the previous state intact.
`.pt` files are read with `weights_only=True`, so loading a state never runs code.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flock_subnet.miner.training.config import TrainingError

LATEST_FILE = "LATEST"
STATE_FILE = "state.json"
WEIGHTS_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng.pt"


@dataclass
class Position:
    """Where training stands: optimizer steps done and the next micro-batch to read."""

    step: int = 0
    epoch: int = 0
    batch: int = 0  # index of the next micro-batch in this epoch's plan
    tokens: int = 0
    elapsed_s: float = 0.0
    loss_sum: float = 0.0  # answer-token loss summed over the run, for the mean train loss
    loss_tokens: int = 0
    recent_losses: list[float] = field(default_factory=list)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    _fsync_file(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(
    checkpoint_dir: Path,
    model: Any,
    optimizer: Any,
    position: Position,
    fingerprint: dict[str, Any],
    keep: int = 2,
    *,
    weights: dict[str, Any] | None = None,
    optimizer_state: dict[str, Any] | None = None,
) -> Path:
    """Write a complete state for `position.step`, point `LATEST` at it, prune older ones.

    `weights` and `optimizer_state`, when given, are written instead of the model's trainable
    parameters and `optimizer.state_dict()` (a sharded run passes the gathered full ones).
    """
    import torch
    from safetensors.torch import save_file

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    name = f"step-{position.step:08d}"
    final = checkpoint_dir / name
    tmp = checkpoint_dir / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    if weights is None:
        weights = {n: p.detach().to("cpu").contiguous().clone() for n, p in model.named_parameters() if p.requires_grad}
    save_file(weights, str(tmp / WEIGHTS_FILE))
    torch.save(optimizer.state_dict() if optimizer_state is None else optimizer_state, tmp / OPTIMIZER_FILE)
    torch.save(_rng_state(), tmp / RNG_FILE)
    (tmp / STATE_FILE).write_text(
        json.dumps({"position": asdict(position), "fingerprint": fingerprint}, indent=2, sort_keys=True) + "\n"
    )
    for child in tmp.iterdir():
        _fsync_file(child)
    _fsync_dir(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(checkpoint_dir)
    _write_text_atomic(checkpoint_dir / LATEST_FILE, name + "\n")
    _prune(checkpoint_dir, keep=max(1, keep), current=name)
    return final


def _prune(checkpoint_dir: Path, keep: int, current: str) -> None:
    states = sorted(p for p in checkpoint_dir.glob("step-*") if p.is_dir())
    for old in states[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)
    for leftover in checkpoint_dir.glob(".step-*.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def latest_state(checkpoint_dir: Path) -> Path | None:
    """The newest complete state, or None when there is none."""
    pointer = checkpoint_dir / LATEST_FILE
    if pointer.is_file():
        candidate = checkpoint_dir / pointer.read_text().strip()
        if (candidate / STATE_FILE).is_file():
            return candidate
    complete = sorted(p for p in checkpoint_dir.glob("step-*") if (p / STATE_FILE).is_file())
    return complete[-1] if complete else None


def load_state(path: Path, model: Any, optimizer: Any, fingerprint: dict[str, Any]) -> Position:
    """Restore weights, optimizer and generators from `path`; returns the saved position."""
    position = read_position(path, fingerprint)
    load_weights(path, model)
    optimizer.load_state_dict(read_optimizer(path))
    restore_rng(path)
    return position


def read_position(path: Path, fingerprint: dict[str, Any]) -> Position:
    """The position saved in `path`, after checking that it was made with the same settings."""
    meta = json.loads((path / STATE_FILE).read_text())
    saved = meta.get("fingerprint", {})
    changed = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {fingerprint.get(k)!r}" for k in changed)
        raise TrainingError(
            f"the checkpoint in {path} was made with other settings ({details}); "
            "resume with the same settings, or use a new --output-dir to start afresh"
        )
    return Position(**meta["position"])


def load_weights(path: Path, model: Any) -> None:
    """Copy the saved trainable weights into `model`'s parameters."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(path / WEIGHTS_FILE))
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in weights]
    if missing:
        raise TrainingError(f"checkpoint {path} lacks {len(missing)} trainable tensors (e.g. {missing[0]}); start afresh")
    with torch.no_grad():
        for name, tensor in weights.items():
            if name not in params:
                raise TrainingError(f"checkpoint {path} has tensor {name} the model does not; start afresh")
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))


def read_optimizer(path: Path) -> dict[str, Any]:
    """The saved optimizer state (the miner's own resume file; weights_only=True refuses anything but tensors and plain data)."""
    import torch

    return torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)


def restore_rng(path: Path) -> None:
    """Put the random generators back where they were when `path` was saved."""
    import torch

    _restore_rng(torch.load(path / RNG_FILE, map_location="cpu", weights_only=True))
