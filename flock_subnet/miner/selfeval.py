"""Self-evaluation: score a checkpoint exactly as validators will, before anything is uploaded.

The same admission check (`evaluation.admission.check_model_dir`) and the same evaluator
(`evaluation.evaluate_in_sandbox`, or in-process `evaluate_loss` on `data.hidden_samples`) run
on a seed nobody has seen: a fresh random one, or the hash of a chain block. A miner that
passes here passes admission on every validator and gets the loss they will measure for that
round's data (up to the round's seed).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flock_subnet.rules.competitions import Competition, get_competition


@dataclass
class SelfEvalReport:
    """Admission verdict and, when admitted, the evaluator's loss on `seed`."""

    ok: bool
    reasons: list[str]
    seed: int
    loss: float | None
    content_hash: str | None
    parameters: int | None
    eval: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reasons": list(self.reasons),
            "seed": self.seed,
            "loss": self.loss,
            "content_hash": self.content_hash,
            "parameters": self.parameters,
            "eval": self.eval,
        }


def fresh_seed() -> int:
    """A seed no validator round will reuse by chance (63 random bits)."""
    return secrets.randbits(63)


def seed_from_chain(chain: Any) -> int:
    """The seed of the current block, derived as validators derive a round's seed."""
    from flock_subnet.rules.data import round_seed

    return round_seed(chain.block_hash(chain.block()))


def evaluate_on_seed(
    model_dir: str | Path,
    competition: Competition | str,
    seed: int,
    sandbox: bool = True,
    timeout_s: float | None = None,
    device: str | None = None,
    worker: Any = None,
) -> Any:
    """The validator's `EvalResult` for `model_dir` on the hidden samples of `seed`.

    `worker` (an `evaluation.WarmWorker`) evaluates in its already running sandbox process."""
    comp = get_competition(competition) if isinstance(competition, str) else competition
    if worker is not None:
        kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
        return worker.evaluate(Path(model_dir), comp.id, seed, **kwargs)
    if sandbox:
        from flock_subnet.evaluation import evaluate_in_sandbox

        kwargs = {} if timeout_s is None else {"timeout_s": timeout_s}
        return evaluate_in_sandbox(Path(model_dir), comp.id, seed, **kwargs)
    from flock_subnet.evaluation import evaluate_loss
    from flock_subnet.evaluation.samples import round_samples

    return evaluate_loss(Path(model_dir), round_samples(comp, seed), comp, device=device)


def self_evaluate(
    model_dir: str | Path,
    competition: Competition | str,
    hotkey: str,
    seed: int | None = None,
    sandbox: bool = True,
    cache_dir: str | Path | None = None,
    reference_files: dict[str, bytes] | None = None,
    timeout_s: float | None = None,
    worker: Any = None,
) -> SelfEvalReport:
    """Admission first (nothing is evaluated if it fails), then the loss on `seed` (fresh when None)."""
    from flock_subnet.evaluation.admission import check_model_dir

    comp = get_competition(competition) if isinstance(competition, str) else competition
    seed = fresh_seed() if seed is None else seed
    admission = check_model_dir(model_dir, comp, hotkey, reference_files=reference_files, cache_dir=cache_dir)
    if not admission.ok:
        return SelfEvalReport(False, list(admission.reasons), seed, None, admission.content_hash, admission.parameters)
    result = evaluate_on_seed(model_dir, comp, seed, sandbox=sandbox, timeout_s=timeout_s, worker=worker)
    return SelfEvalReport(
        True, [], seed, float(result.loss), admission.content_hash, admission.parameters, eval=result.to_dict()
    )
