"""Which committed model is the competition's winner, downloaded the way validators download it.

The winner is the committed model of the competition with the highest incentive on chain; ties
go to the earlier commit, then the lower uid, as in the validators' scoring (`scoring.Entry.order`).
It is fetched at exactly the committed revision through `admission.admit_reference` (file
listing first, byte caps, the hotkey-salted hash, headers parsed by hand: nothing unpickled,
nothing executed), once per revision. A candidate that fails admission is remembered and
skipped, and the next one in line is tried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from flock_subnet.chain.base import Chain
from flock_subnet.evaluation.admission import admit_reference
from flock_subnet.hub.base import ModelHub
from flock_subnet.models.tiny import base_model_dir
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import Competition
from flock_subnet.rules.scoring import Entry

_log = logger.bind(component="serve")
DEFAULT_TOP = 3


@dataclass(frozen=True)
class Candidate:
    """A registered miner's commitment for the competition, and what the chain pays it."""

    hotkey: str
    uid: int
    reference: protocol.ModelReference
    commit_block: int
    incentive: float

    @property
    def model_id(self) -> str:
        """The served name: competition, uid and short revision (`local/uid3@abc1234`)."""
        return f"{self.reference.competition_id}/uid{self.uid}@{self.reference.revision[:7]}"

    @property
    def key(self) -> tuple[int, str, str, str]:
        """Same key, same model: a new uid, hotkey, repository or revision is another model."""
        return (self.uid, self.hotkey, self.reference.repo_id, self.reference.revision)

    def rank(self) -> tuple[float, int, int]:
        return (-self.incentive, *Entry(uid=self.uid, block=self.commit_block, loss=None).order)


@dataclass(frozen=True)
class Winner:
    """The winning candidate, admitted into `folder`; `base_folder` holds the competition's base."""

    candidate: Candidate
    folder: Path
    base_folder: Path


def ranked_candidates(chain: Chain, netuid: int, competition: Competition) -> list[Candidate]:
    """Every registered hotkey's decodable commitment for `competition`, winner first."""
    metagraph = chain.metagraph(netuid)
    found = []
    for hotkey, record in chain.commitments(netuid).items():
        neuron = metagraph.by_hotkey(hotkey)
        if neuron is None:
            continue
        try:
            reference = protocol.decode(record.data)
        except protocol.ProtocolError:
            continue
        if reference.competition_id == competition.id:
            found.append(Candidate(hotkey, neuron.uid, reference, record.block, float(neuron.incentive)))
    return sorted(found, key=Candidate.rank)


class WinnerFinder:
    """Finds and admits the winner; remembers admitted downloads and refused candidates."""

    def __init__(self, hub: ModelHub, competition: Competition, cache_dir: Path, top: int = DEFAULT_TOP) -> None:
        self.hub = hub
        self.competition = competition
        self.cache_dir = Path(cache_dir)
        self.models_dir = self.cache_dir / "serve" / competition.id
        self.top = max(1, top)
        self.refused: dict[tuple[int, str, str, str], list[str]] = {}

    def base_folder(self) -> Path:
        return Path(base_model_dir(self.competition, self.cache_dir, hub=self.hub))

    def refuse(self, candidate: Candidate, reasons: list[str]) -> None:
        self.refused[candidate.key] = list(reasons)
        _log.warning("not serving {} ({}): {}", candidate.model_id, candidate.reference.short, "; ".join(reasons))

    def admit(self, candidate: Candidate) -> Path | None:
        """The candidate's folder after admission (downloaded once per revision), or None if refused."""
        ref = candidate.reference
        name = f"{ref.repo_id.replace('/', '--')}-{ref.revision[:12]}-{ref.salted_hash[:8]}"
        dest, marker = self.models_dir / name, self.models_dir / f"{name}.admitted.json"
        if marker.is_file() and dest.is_dir():
            return dest
        self.models_dir.mkdir(parents=True, exist_ok=True)
        _log.info("admitting {} ({}) for serving", candidate.model_id, ref.short)
        report = admit_reference(self.hub, ref, candidate.hotkey, dest, self.competition, cache_dir=self.cache_dir)
        if not report.ok:
            self.refuse(candidate, report.reasons)
            return None
        marker.write_text(json.dumps(report.to_dict()) + "\n")
        return dest

    def find(self, chain: Chain, netuid: int) -> Winner | None:
        """The best admissible candidate among the top few, downloaded; None when there is none.

        Raises the chain's `ChainUnavailable` or a hub failure (`HubError` with fault "hub"): retry later.
        """
        candidates = [c for c in ranked_candidates(chain, netuid, self.competition) if c.key not in self.refused]
        for candidate in candidates[: self.top]:
            folder = self.admit(candidate)
            if folder is not None:
                if candidate.incentive <= 0:
                    _log.info("no committed model of {} earns incentive yet; serving the earliest commit",
                              self.competition.id)
                return Winner(candidate, folder, self.base_folder())
        return None
