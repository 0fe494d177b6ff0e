"""Publishing a checkpoint: the only way a model leaves a miner's machine.

`submit_model`: admission check first (a failing model is never uploaded), upload into a private
repo (nobody can copy it before the commit exists), content and hotkey-salted hashes,
`protocol.encode`, commit signed by the hotkey (waiting out the chain's commitment rate limit
when that is short), read the commitment back, and only then make the repo public.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from flock_subnet.chain.base import Chain, ChainErrorCode, Wallet
from flock_subnet.config import resolve_cache_dir
from flock_subnet.errors import Fault, FlockError
from flock_subnet.hub.base import HubError, ModelHub, RepoNotFound
from flock_subnet.models import checkpoint
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import Competition, get_competition

DEFAULT_BLOCK_TIME_S = 12.0
DEFAULT_MAX_WAIT_S = 30 * 60.0


class SubmitError(FlockError):
    """A submission that did not complete; `reasons` lists every problem, the message says what to do."""

    def __init__(self, message: str, reasons: list[str] | None = None, retry_at_block: int | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])
        self.retry_at_block = retry_at_block


@dataclass
class SubmitResult:
    """A completed submission: the reference committed, where, and what it took."""

    reference: protocol.ModelReference
    commitment: str
    commit_block: int
    uid: int
    content_hash: str
    salted_hash: str
    waited_s: float = 0.0
    already_committed: bool = False

    @property
    def repo_id(self) -> str:
        return self.reference.repo_id

    @property
    def revision(self) -> str:
        return self.reference.revision

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "competition": self.reference.competition_id,
            "commitment": self.commitment,
            "commit_block": self.commit_block,
            "uid": self.uid,
            "content_hash": self.content_hash,
            "salted_hash": self.salted_hash,
            "waited_s": round(self.waited_s, 3),
            "already_committed": self.already_committed,
        }


def _hotkey(wallet: Wallet) -> str:
    return wallet.hotkey.ss58_address


def _competition(competition: Competition | str) -> Competition:
    return get_competition(competition) if isinstance(competition, str) else competition


def _stage_model_files(model_dir: Path, staging: Path) -> None:
    """Copy exactly the files the content hash covers, so the hub holds what was hashed."""
    for path in checkpoint.model_files(model_dir):
        shutil.copyfile(path, staging / path.name)


def wait_for_block(
    chain: Chain,
    target: int,
    max_wait_s: float,
    block_time_s: float = DEFAULT_BLOCK_TIME_S,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Sleep until the chain reaches `target`; returns seconds waited. `SubmitError` past `max_wait_s`."""
    start = time.monotonic()
    announced = None
    while True:
        current = chain.block()
        waited = time.monotonic() - start
        if current >= target:
            return waited
        remaining = (target - current) * block_time_s
        if waited >= max_wait_s:
            raise SubmitError(
                f"the chain is at block {current}; this hotkey may commit again at block {target} "
                f"(about {remaining / 60:.1f} min from now); rerun the submission then",
                retry_at_block=target,
            )
        if announced != current:
            logger.info(
                "commitment rate limit: waiting for block {} ({} blocks, about {:.0f} s)", target, target - current, remaining
            )
            announced = current
        sleep(max(0.01, min(block_time_s / 2, max_wait_s - waited)))


def _commit_allowed_at(chain: Chain, netuid: int, hotkey: str) -> int | None:
    """The first block at which this hotkey may commit again, when the chain limits commitments."""
    limit = chain.hyperparameters(netuid).commitment_rate_limit
    previous = chain.commitments(netuid).get(hotkey)
    if not limit or previous is None:
        return None
    return previous.block + limit


def submit_model(
    chain: Chain,
    hub: ModelHub,
    wallet: Wallet,
    netuid: int,
    model_dir: str | Path,
    repo_id: str,
    competition: Competition | str,
    *,
    cache_dir: str | Path | None = None,
    reference_files: dict[str, bytes] | None = None,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    block_time_s: float = DEFAULT_BLOCK_TIME_S,
    sleep: Callable[[float], None] = time.sleep,
) -> SubmitResult:
    """Check, upload privately, commit on chain, verify, publish. See the module docstring."""
    from flock_subnet.evaluation.admission import check_model_dir

    comp = _competition(competition)
    model_dir = Path(model_dir)
    hotkey = _hotkey(wallet)
    protocol.validate_repo_id(repo_id)
    budget = protocol.max_repo_id_length(comp.id)
    if len(repo_id) > budget:
        raise SubmitError(
            f"repo id {repo_id!r} has {len(repo_id)} characters but competition {comp.id!r} leaves {budget} "
            f"in a {protocol.MAX_COMMITMENT_BYTES}-byte commitment; use a repo id "
            f"{len(repo_id) - budget} characters shorter"
        )
    if cache_dir is None and reference_files is None:
        cache_dir = resolve_cache_dir()
    report = check_model_dir(model_dir, comp, hotkey, reference_files=reference_files, cache_dir=cache_dir)
    if not report.ok:
        raise SubmitError(
            f"{model_dir} would not pass admission, so nothing was uploaded or committed; fix: "
            + "; ".join(report.reasons),
            reasons=report.reasons,
        )
    content = report.content_hash or checkpoint.content_hash(model_dir)
    salted = checkpoint.salted_hash(content, hotkey)
    metagraph = chain.metagraph(netuid)
    uid = metagraph.uid_of(hotkey)
    if uid is None:
        raise SubmitError(
            f"hotkey {hotkey} is not registered on subnet {netuid}; register it first "
            f"(`btcli subnets register --netuid {netuid}`, or `flock-subnet localnet register` on the local chain)"
        )
    existing = chain.commitments(netuid).get(hotkey)
    if existing is not None:
        try:
            current = protocol.decode(existing.data)
        except protocol.ProtocolError:
            current = None
        if current is not None and current.salted_hash == salted and current.repo_id == repo_id and current.competition_id == comp.id:
            logger.info("{} is already committed at block {}; nothing to do", current.short, existing.block)
            return SubmitResult(current, existing.data, existing.block, uid, content, salted, 0.0, already_committed=True)

    allowed_at = _commit_allowed_at(chain, netuid, hotkey)
    now = chain.block()
    if allowed_at is not None and allowed_at > now and (allowed_at - now) * block_time_s > max_wait_s:
        raise SubmitError(
            f"this hotkey committed recently; the chain accepts its next commitment at block {allowed_at} "
            f"(now {now}, about {(allowed_at - now) * block_time_s / 60:.0f} min); rerun the submission then "
            "(nothing was uploaded)",
            retry_at_block=allowed_at,
        )

    revision = _upload_private(hub, model_dir, repo_id)
    reference = protocol.ModelReference(repo_id=repo_id, revision=revision, salted_hash=salted, competition_id=comp.id)
    commitment = protocol.encode(reference)
    logger.info("uploaded {} privately; committing {!r}", reference.short, commitment)
    waited = 0.0
    if allowed_at is not None and allowed_at > chain.block():
        waited += wait_for_block(chain, allowed_at, max_wait_s, block_time_s, sleep)
    waited += _commit_with_retry(chain, wallet, netuid, commitment, reference, max_wait_s - waited, block_time_s, sleep)
    record = _read_back(chain, netuid, hotkey, commitment, block_time_s, sleep)
    if record is None or record.data != commitment:
        seen = None if record is None else record.data
        raise SubmitError(
            f"the chain accepted the commitment but reads back {seen!r} instead of {commitment!r}; "
            f"the repo {repo_id} stays private; check `flock-subnet miner status` and submit again"
        )
    _publish(hub, repo_id)
    logger.info("committed {} at block {} as uid {}; the repo is public", reference.short, record.block, uid)
    return SubmitResult(reference, commitment, record.block, uid, content, salted, waited)


def _read_back(
    chain: Chain, netuid: int, hotkey: str, commitment: str, block_time_s: float, sleep: Callable[[float], None], attempts: int = 3
) -> Any:
    """This hotkey's commitment as the chain now reports it (a node may show a new one a block late)."""
    record = None
    for attempt in range(attempts):
        record = chain.commitments(netuid).get(hotkey)
        if record is not None and record.data == commitment:
            return record
        if attempt < attempts - 1:
            sleep(max(0.05, block_time_s / 2))
    return record


def _upload_private(hub: ModelHub, model_dir: Path, repo_id: str) -> str:
    try:
        try:
            hub.set_private(repo_id, True)  # an existing public repo must not show the new files early
        except RepoNotFound:
            pass
        with tempfile.TemporaryDirectory(prefix="flock-submit-") as tmp:
            _stage_model_files(model_dir, Path(tmp))
            return hub.upload(tmp, repo_id, private=True, message="Submit model")
    except HubError as exc:
        if exc.fault == Fault.VALIDATOR:
            raise SubmitError(f"the hub failed during the upload ({exc}); nothing was committed; retry later") from exc
        raise SubmitError(
            f"the hub refused the upload to {repo_id} ({exc}); check that your token (--hub.token or HF_TOKEN) "
            "may write to that repository; nothing was committed"
        ) from exc


def _commit_with_retry(
    chain: Chain,
    wallet: Wallet,
    netuid: int,
    commitment: str,
    reference: protocol.ModelReference,
    max_wait_s: float,
    block_time_s: float,
    sleep: Callable[[float], None],
) -> float:
    """Commit, waiting out rate limits within `max_wait_s`; returns the seconds waited."""
    waited = 0.0
    for _ in range(20):
        result = chain.commit(wallet, netuid, commitment)
        if result.ok:
            return waited
        code = result.error or ChainErrorCode.OTHER
        private_note = f"{reference.short} is uploaded but private; submit again to commit it"
        if code.is_rate_limit:
            retry_blocks = result.retry_after_blocks or 1
            target = chain.block() + retry_blocks
            waited += wait_for_block(chain, target, max(0.0, max_wait_s - waited), block_time_s, sleep)
            continue
        if code is ChainErrorCode.UNAVAILABLE:
            raise SubmitError(f"the chain could not be reached ({result.message}); {private_note} later")
        if code in (ChainErrorCode.NOT_REGISTERED, ChainErrorCode.NOT_ALLOWED_TO_COMMIT):
            raise SubmitError(f"the hotkey is not registered on subnet {netuid} ({result.message}); register, then {private_note}")
        raise SubmitError(f"the chain refused the commitment: {code.value}: {result.message}; {private_note}")
    raise SubmitError(f"the chain kept refusing the commitment as rate limited; {reference.short} stays private; retry later")


def _publish(hub: ModelHub, repo_id: str, attempts: int = 3) -> None:
    for attempt in range(attempts):
        try:
            hub.set_private(repo_id, False)
            return
        except HubError as exc:
            if exc.fault != Fault.VALIDATOR or attempt == attempts - 1:
                raise SubmitError(
                    f"the model is committed but {repo_id} is still private ({exc}); validators cannot download it "
                    "until you make the repository public on the hub"
                ) from exc
            time.sleep(1.0 + attempt)
