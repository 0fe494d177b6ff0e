"""Loading what an evaluation reads from disk: the model (safetensors, no remote code) and the base tokenizer.

Failures are blamed by where they happen: anything raised while loading the miner's files is a
`ModelFault`, except running out of memory or an accelerator failure (`EvaluatorFault`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flock_subnet.evaluation.errors import EvaluatorFault, ModelFault, is_resource_failure
from flock_subnet.models.checkpoint import TOKENIZER_FILES
from flock_subnet.rules.competitions import Competition


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise EvaluatorFault(f"device {device!r} was requested but CUDA is not available here")
    return str(device)


def blame(exc: BaseException, what: str) -> Exception:
    if isinstance(exc, (ModelFault, EvaluatorFault)):
        return exc
    if is_resource_failure(exc):
        return EvaluatorFault(f"{what} ran out of memory or hit an accelerator failure: {exc}")
    return ModelFault(f"{what} failed: {type(exc).__name__}: {exc}")


def load_model(model_dir: str | Path, device: str | None = None) -> tuple[Any, str]:
    """(model, device) from a checkpoint folder; `ModelFault` if its files do not load."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise EvaluatorFault(f"model folder {folder} does not exist; download or admit the model first")
    import torch
    from transformers import AutoModelForCausalLM

    device = resolve_device(device)
    on_gpu = device.startswith("cuda")
    try:
        torch.manual_seed(0)  # weights a checkpoint lacks are initialised the same way everywhere
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            trust_remote_code=False,
            use_safetensors=True,
            local_files_only=True,
            dtype=torch.bfloat16 if on_gpu else torch.float32,
            attn_implementation="sdpa",
        )
        model.to(device)
        model.eval()
    except Exception as exc:
        raise blame(exc, "loading the model") from exc
    return model, device


def load_tokenizer(model_dir: str | Path, competition: Competition, tokenizer_dir: str | Path | None = None) -> Any:
    """The competition's base tokenizer, which every submission is scored with.

    Tiny bases: the kit tokenizer (built, not read from the submission). Otherwise the base
    model folder `tokenizer_dir` when given, else the submission's own tokenizer files, which
    admission has verified to be byte-identical to the base's.
    """
    if competition.base.tiny is not None:
        from flock_subnet.models.tiny import build_tokenizer

        return build_tokenizer(competition.sequence_length)
    from transformers import AutoTokenizer

    if tokenizer_dir is not None:
        try:
            return AutoTokenizer.from_pretrained(Path(tokenizer_dir), trust_remote_code=False, local_files_only=True)
        except Exception as exc:
            raise EvaluatorFault(f"cannot load the base tokenizer from {tokenizer_dir}: {exc}") from exc
    folder = Path(model_dir)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelFault(
            f"{folder} has no tokenizer files; ship the base model's tokenizer files with the checkpoint, "
            "or pass tokenizer_dir=the base model folder (modelkit.base_model_dir)"
        )
    try:
        return AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    except Exception as exc:
        raise blame(exc, "loading the model's tokenizer") from exc
