"""What a round did: per-uid outcomes, the weights, and how they reach logs, W&B and a table."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from flock_subnet.telemetry import WandbRun
from flock_subnet.validator.plan import PlanStatus


class EvalStatus(str, Enum):
    """What evaluation decided for an eligible uid (besides the planning statuses, `plan.PlanStatus`).

    The value is what the state file, the JSON report and W&B hold.
    """

    EVALUATED = "evaluated"  # evaluated this round
    CACHED = "cached"  # this round's result was already in the state (a restart, or a byte-identical model)
    MINER_FAULT = "miner_fault"  # refused at admission or its model failed: scores zero
    HELD = "held"  # a validator fault: the miner keeps its previous score

    def __str__(self) -> str:
        return self.value


UidStatus = PlanStatus | EvalStatus


@dataclass
class UidReport:
    """One uid in one round."""

    uid: int
    hotkey: str
    status: UidStatus
    competition_id: str | None = None
    model: str | None = None  # repo@revision
    commit_block: int | None = None
    content_hash: str | None = None
    loss: float | None = None
    accuracy: float | None = None  # greedy exact-match accuracy on the round's accuracy subset
    stale_loss: bool = False  # the loss is an earlier round's (held after a validator fault)
    competitive: bool = False
    epsilon: float = 0.0
    win_rate: float = 0.0
    round_weight: float = 0.0
    ema: float = 0.0
    weight: float = 0.0  # the final normalised weight
    detail: str = ""
    held_rounds: int = 0  # rounds in a row this uid was held (validator faults, pending); 0 once evaluated


@dataclass
class CompetitionRound:
    competition_id: str
    round_block: int
    seed: int
    winner: int | None = None
    base_accuracy: float | None = None  # the accuracy gate's bar, where the competition has one


@dataclass
class RoundReport:
    """The outcome of `Validator.run_round()`."""

    block: int
    rounds: list[CompetitionRound] = field(default_factory=list)
    uids: dict[int, UidReport] = field(default_factory=dict)
    weights: dict[int, float] = field(default_factory=dict)
    weights_set: bool = False
    weights_message: str = ""
    evaluations_run: int = 0
    evaluations_cached: int = 0
    downloads: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # competition -> why it is outside its schedule

    @property
    def round_block(self) -> int | None:
        return self.rounds[0].round_block if self.rounds else None

    @property
    def seed(self) -> int | None:
        return self.rounds[0].seed if self.rounds else None

    @property
    def ran(self) -> bool:
        """False when no competition had a new round to run."""
        return bool(self.rounds)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["uids"] = {str(uid): {**value, "status": self.uids[uid].status.value} for uid, value in data["uids"].items()}
        data["weights"] = {str(uid): value for uid, value in data["weights"].items()}
        data["round_block"] = self.round_block
        data["seed"] = self.seed
        return data

    def wandb_payload(self) -> dict[str, Any]:
        """Flat per-uid metrics, the SN37-style names validators' dashboards read."""
        payload: dict[str, Any] = {"block": self.block, "round/seconds": self.seconds}
        for r in self.rounds:
            payload[f"{r.competition_id}/round_block"] = r.round_block
            payload[f"{r.competition_id}/seed"] = r.seed
            if r.winner is not None:
                payload[f"{r.competition_id}/winner"] = r.winner
            if r.base_accuracy is not None:
                payload[f"{r.competition_id}/base_accuracy"] = r.base_accuracy
        for name, value in self.timings.items():
            payload[f"timing/{name}"] = value
        payload["round/evaluations_run"] = self.evaluations_run
        payload["round/evaluations_cached"] = self.evaluations_cached
        payload["round/weights_set"] = int(self.weights_set)
        for uid, u in self.uids.items():
            prefix = f"uid/{uid}"
            if u.loss is not None and math.isfinite(u.loss):
                payload[f"{prefix}/loss"] = u.loss
            if u.accuracy is not None:
                payload[f"{prefix}/accuracy"] = u.accuracy
            payload[f"{prefix}/win_rate"] = u.win_rate
            payload[f"{prefix}/weight"] = u.weight
            payload[f"{prefix}/ema"] = u.ema
            payload[f"{prefix}/epsilon_adv"] = u.epsilon
            payload[f"{prefix}/status"] = u.status.value
            payload[f"{prefix}/held_rounds"] = u.held_rounds
            if u.model:
                payload[f"{prefix}/model"] = u.model
        return payload

    def log_to(self, run: WandbRun) -> None:
        run.log(self.wandb_payload(), step=self.block)

    def table(self) -> Any:
        """A rich table of the round, best weight first."""
        from rich.table import Table

        title = ", ".join(f"{r.competition_id} round {r.round_block}" for r in self.rounds) or "no new round"
        table = Table(title=f"block {self.block}: {title}")
        numeric = ("uid", "loss", "win rate", "EMA", "weight", "held")
        for column in ("uid", "status", "model", "loss", "win rate", "EMA", "weight", "held", "note"):
            table.add_column(column, justify="right" if column in numeric else "left")
        for u in sorted(self.uids.values(), key=lambda u: (-u.weight, u.uid)):
            loss = "-" if u.loss is None else f"{u.loss:.4f}" + ("*" if u.stale_loss else "")
            note = u.detail if len(u.detail) <= 60 else u.detail[:57] + "..."
            table.add_row(
                str(u.uid), u.status.value, u.model or "-", loss, f"{u.win_rate:.2f}", f"{u.ema:.3f}", f"{u.weight:.3f}",
                str(u.held_rounds or "-"), note,
            )
        table.caption = ("weights set" if self.weights_set else f"weights not set: {self.weights_message}")
        return table
