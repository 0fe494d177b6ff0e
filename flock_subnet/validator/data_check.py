"""The start-up check that this validator generates the same hidden data as every other one.

Each competition may declare the digest of one fixed round (`[digest]`: seed, n, sha256). At
start-up the validator generates that round with its own libraries and pool file and
compares: a different digest means its scores would be measured on other samples than its
peers', so it refuses to score and says what to fix instead of drifting out of consensus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from flock_subnet.errors import FlockError
from flock_subnet.evaluation.samples import round_digest
from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.data import DataError
from flock_subnet.rules.data.generators import GENERATORS, REASONING_GYM_VERSION


class DigestStatus(str, Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    FAILED = "failed"  # the round could not be generated at all
    UNDECLARED = "undeclared"  # the competition declares no digest: nothing to compare


class DataEnvironmentError(FlockError):
    """This machine generates different hidden data than the competition declares."""


@dataclass(frozen=True)
class DigestCheck:
    competition: str
    status: DigestStatus
    expected: str = ""
    actual: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (DigestStatus.MATCH, DigestStatus.UNDECLARED)


def _hint(competition: Competition) -> str:
    hints = []
    if any(name in GENERATORS for name in competition.tasks):
        hints.append(f"install reasoning-gym=={REASONING_GYM_VERSION} exactly (pip install -e . reinstalls the pins)")
    if competition.public_pool:
        hints.append(f"check that {competition.public_pool} is the pool file the task creator handed out (same bytes)")
    hints.append("update flock-subnet to the release the other validators run")
    return "; ".join(hints)


def check_data_digest(
    competition: Competition, digest_of: Callable[[Competition, int, int], str] = round_digest
) -> DigestCheck:
    """Generate the competition's declared round here and compare its digest."""
    declared = competition.data_digest
    if declared is None:
        return DigestCheck(competition.id, DigestStatus.UNDECLARED)
    try:
        actual = digest_of(competition, declared.seed, declared.n)
    except DataError as exc:
        return DigestCheck(competition.id, DigestStatus.FAILED, declared.sha256, "", f"{exc}; {_hint(competition)}")
    if actual != declared.sha256:
        reason = (
            f"round seed {declared.seed} with {declared.n} samples generates {actual} here, but the competition "
            f"declares {declared.sha256}: this machine would score models on different hidden samples than the "
            f"other validators; {_hint(competition)}"
        )
        return DigestCheck(competition.id, DigestStatus.MISMATCH, declared.sha256, actual, reason)
    return DigestCheck(competition.id, DigestStatus.MATCH, declared.sha256, actual)


def require_matching_data(
    competitions: Iterable[Competition], digest_of: Callable[[Competition, int, int], str] = round_digest
) -> list[DigestCheck]:
    """Check every competition; raise `DataEnvironmentError` naming each one that does not match."""
    checks = [check_data_digest(c, digest_of) for c in competitions]
    failed = [check for check in checks if not check.ok]
    if failed:
        lines = "\n  ".join(f"{check.competition}: {check.reason}" for check in failed)
        raise DataEnvironmentError(f"refusing to score: the hidden data of this machine is not the consensus data:\n  {lines}")
    return checks
