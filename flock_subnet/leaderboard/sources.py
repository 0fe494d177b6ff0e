"""Read what the leaderboard shows: the chain through the `Chain` port, and a validator's state.

The validator's state file is never opened for writing: it is copied (`VACUUM INTO`) from a
read-only connection with a short lock timeout, and the copy is read through
`ValidatorState`'s public read methods. A missing, locked or unreadable file becomes a
`SourceNote` saying what to do; the chain's part of the page still shows.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from flock_subnet.chain.base import Chain, CommitmentRecord, Hyperparameters, Metagraph
from flock_subnet.errors import FlockError
from flock_subnet.leaderboard.model import SourceNote
from flock_subnet.rules.competitions import COMPETITIONS
from flock_subnet.sqlitedb import is_locked
from flock_subnet.validator.state import AdmissionRecord, EvalRecord, FaultRecord, ValidatorState

STATE_FILE = "state.db"
DEFAULT_MAX_ROUNDS = 120  # rounds of history read per competition
EVAL_ROUNDS = 10  # rounds whose per-task results are read for the models committed now
LOCK_TIMEOUT_S = 0.1


@dataclass(frozen=True)
class ChainExtras:
    """What some chains tell beyond the port: validator takes and own stakes, epoch spacing.

    Empty on a subtensor node (the page then says "not available"); the local chain and the
    demo fill it in. `epoch_blocks` None means subtensor's rule, one epoch every tempo + 1 blocks.
    """

    takes: Mapping[str, float] = field(default_factory=dict)  # validator hotkey -> take in [0, 1]
    own_stakes: Mapping[str, int] = field(default_factory=dict)  # hotkey -> rao staked by its own coldkey
    delegators: Mapping[str, int] = field(default_factory=dict)  # hotkey -> other coldkeys staked on it
    epoch_blocks: int | None = None


@dataclass(frozen=True)
class ChainView:
    """One consistent-enough read of the subnet."""

    netuid: int
    block: int
    metagraph: Metagraph
    commitments: Mapping[str, CommitmentRecord]
    weights: Mapping[int, Mapping[int, float]]
    hyperparameters: Hyperparameters
    label: str


@dataclass(frozen=True)
class RoundRecord:
    """One finished round of one competition as the validator stored it."""

    competition_id: str
    round_block: int
    seed: int
    finished_at: float | None
    uids: Mapping[int, tuple[str, float | None, str]]  # uid -> (status, loss, detail)
    held_rounds: Mapping[int, int] = field(default_factory=dict)  # uid -> rounds in a row held, as of this round


@dataclass(frozen=True)
class StateView:
    """What the leaderboard reads from a validator's state (empty when there is none)."""

    note: SourceNote
    rounds: Mapping[str, tuple[RoundRecord, ...]] = field(default_factory=dict)  # oldest first
    admissions: tuple[AdmissionRecord, ...] = ()
    evals: Mapping[tuple[str, str, int], EvalRecord] = field(default_factory=dict)  # (hash, competition, round)
    faults: tuple[FaultRecord, ...] = ()
    path: str | None = None

    @property
    def available(self) -> bool:
        return self.note.ok and self.path is not None


def read_chain(chain: Chain, netuid: int, label: str) -> ChainView:
    """Metagraph, commitments, weights and hyperparameters of `netuid` (raises `ChainError`)."""
    metagraph = chain.metagraph(netuid)
    return ChainView(
        netuid=netuid,
        block=metagraph.block,
        metagraph=metagraph,
        commitments=chain.commitments(netuid),
        weights=chain.weights(netuid),
        hyperparameters=chain.hyperparameters(netuid),
        label=label,
    )


def state_file(location: str | Path) -> Path:
    """`location` is a validator workdir (holding `state.db`) or the state file itself."""
    path = Path(location).expanduser()
    return path if path.suffix == ".db" else path / STATE_FILE


def read_state(
    location: str | Path | None,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> StateView:
    """A read-only snapshot of the validator's state at `location`, or a note saying why not."""
    if location is None:
        return StateView(SourceNote(
            "validator state", False,
            "no validator state given: losses, win rates and the history need one; pass --validator.workdir "
            "(the folder given to `flock-subnet validator run`)",
        ))
    path = state_file(location)
    if not path.is_file():
        return StateView(SourceNote(
            "validator state", False,
            f"no validator state at {path}: losses, win rates and the history are missing until it exists; "
            "check --validator.workdir (the folder given to `flock-subnet validator run`)",
        ), path=None)
    with tempfile.TemporaryDirectory(prefix="flock-leaderboard-") as tmp:
        copy = Path(tmp) / STATE_FILE
        problem = _snapshot(path, copy, lock_timeout_s)
        if problem is not None:
            return StateView(SourceNote("validator state", False, problem), path=None)
        try:
            with ValidatorState(copy) as state:
                return _read(state, path, max_rounds)
        except FlockError as exc:
            return StateView(SourceNote("validator state", False, f"cannot read the validator state {path}: {exc}"))


def _snapshot(path: Path, copy: Path, lock_timeout_s: float) -> str | None:
    """Copy `path` to `copy` without writing to it; None, or what went wrong in words."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    source = None
    try:
        source = sqlite3.connect(uri, uri=True, timeout=lock_timeout_s)
        source.execute(f"PRAGMA busy_timeout = {int(lock_timeout_s * 1000)}")
        source.execute("VACUUM INTO ?", (str(copy),))  # one consistent copy; gives up on a lock, never waits
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            return (
                f"the validator state {path} is locked by another process ({exc}); the chain's numbers are shown "
                "without losses and win rates, and the page fills in once the lock is released"
            )
        return f"cannot read the validator state {path}: {exc}; check that the file and its folder are readable"
    except sqlite3.DatabaseError as exc:
        return f"the validator state {path} is not a SQLite database ({exc}); point --validator.workdir at the right folder"
    finally:
        if source is not None:
            source.close()
    return None


def _read(state: ValidatorState, path: Path, max_rounds: int) -> StateView:
    rounds = {
        competition.id: _rounds(state, competition.id, competition.round_length_blocks, max_rounds)
        for competition in COMPETITIONS.values()
    }
    rounds = {cid: found for cid, found in rounds.items() if found}
    admissions = tuple(state.admissions())
    evals = _evals(state, admissions, rounds)
    note = SourceNote(
        "validator state", True,
        f"losses and win rates from the validator state {path} ({sum(len(r) for r in rounds.values())} rounds read)",
    )
    return StateView(note, rounds, admissions, evals, tuple(state.faults(limit=500)), str(path))


def _rounds(state: ValidatorState, competition_id: str, length: int, max_rounds: int) -> tuple[RoundRecord, ...]:
    """Up to `max_rounds` finished rounds, walking back from the latest one round length at a time."""
    latest = state.latest_round(competition_id, status="done")
    if latest is None:
        return ()
    found: list[RoundRecord] = []
    block, scanned = latest.round_block, 0
    while block >= 0 and len(found) < max_rounds and scanned < 4 * max_rounds:
        progress = state.round_progress(competition_id, block)
        if progress is not None and progress.status == "done":
            streaks = {uid: n for uid, (_hotkey, n) in state.held_streaks(competition_id, block + 1).items() if n}
            found.append(RoundRecord(
                competition_id, block, progress.seed, progress.finished_at, state.round_uids(competition_id, block), streaks
            ))
        block -= length
        scanned += 1
    return tuple(reversed(found))


def _evals(
    state: ValidatorState, admissions: Iterable[AdmissionRecord], rounds: Mapping[str, tuple[RoundRecord, ...]]
) -> dict[tuple[str, str, int], EvalRecord]:
    """Evaluation records of the admitted models over the last few rounds (per-task numbers, accuracy)."""
    hashes = sorted({a.content_hash for a in admissions if a.ok and a.content_hash})
    found: dict[tuple[str, str, int], EvalRecord] = {}
    for competition_id, records in rounds.items():
        for record in records[-EVAL_ROUNDS:]:
            for content_hash in hashes:
                result = state.get_eval(content_hash, competition_id, record.round_block)
                if result is not None:
                    found[(content_hash, competition_id, record.round_block)] = result
    return found
