"""The on-chain commitment format: what a miner writes, what a validator reads.

A commitment is one ASCII string that fits a single `Raw` commitment field (at most 128 bytes):

    f1:<competition>:<namespace/name>:<revision>:<salted hash>

- `f1`            format version 1
- `competition`   the competition id, 1-16 of `a-z 0-9 _ -`
- `namespace/name` the Hugging Face repo id
- `revision`      the full 40-hex commit sha, as 27 characters of unpadded base64url (20 bytes)
- `salted hash`   sha256(content hash || hotkey), as 43 characters of unpadded base64url (32 bytes)

The binary fields are base64url-encoded so the repo id keeps as much of the budget as possible:
with competition `local` a repo id may have up to 47 characters. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from flock_subnet.errors import FlockError

MAX_COMMITMENT_BYTES = 128
FORMAT_VERSION = "f1"
SEPARATOR = ":"
REVISION_HEX_LEN = 40
SALTED_HASH_HEX_LEN = 64
_REVISION_B64_LEN = 27
_HASH_B64_LEN = 43
MAX_COMPETITION_ID_LEN = 16

_COMPETITION_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,15}")
_REPO_PART_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_HEX40_RE = re.compile(r"[0-9a-f]{40}")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")


class ProtocolError(FlockError, ValueError):
    """A commitment that cannot be encoded or decoded; the message says exactly why."""


@dataclass(frozen=True)
class ModelReference:
    """What a miner commits: which model, at which exact revision, for which competition."""

    repo_id: str
    revision: str  # 40 lowercase hex characters
    salted_hash: str  # 64 lowercase hex characters
    competition_id: str

    def __post_init__(self) -> None:
        validate_competition_id(self.competition_id)
        validate_repo_id(self.repo_id)
        if not isinstance(self.revision, str) or not _HEX40_RE.fullmatch(self.revision):
            raise ProtocolError(f"revision must be a full 40-character lowercase hex commit sha, got {self.revision!r}")
        if not isinstance(self.salted_hash, str) or not _HEX64_RE.fullmatch(self.salted_hash):
            raise ProtocolError(f"salted hash must be 64 lowercase hex characters, got {self.salted_hash!r}")

    @property
    def short(self) -> str:
        return f"{self.repo_id}@{self.revision[:8]}"


def validate_competition_id(competition_id: str) -> None:
    if not isinstance(competition_id, str) or not _COMPETITION_RE.fullmatch(competition_id):
        raise ProtocolError(
            f"competition id must be 1-{MAX_COMPETITION_ID_LEN} characters of a-z, 0-9, '_' or '-' "
            f"starting with a letter or digit, got {competition_id!r}"
        )


def validate_repo_id(repo_id: str) -> None:
    if not isinstance(repo_id, str):
        raise ProtocolError(f"repo id must be a string, got {type(repo_id).__name__}")
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise ProtocolError(f"repo id must look like 'namespace/name', got {repo_id!r}")
    for part in parts:
        if not _REPO_PART_RE.fullmatch(part) or "--" in part or ".." in part or len(part) > 96:
            raise ProtocolError(
                f"repo id part {part!r} is not a valid Hugging Face name (letters, digits, '.', '_', '-'; "
                "no leading/trailing '.' or '-', no '--' or '..', at most 96 characters)"
            )
    if repo_id.endswith(".git"):
        raise ProtocolError(f"repo id must not end with '.git', got {repo_id!r}")


def max_repo_id_length(competition_id: str) -> int:
    """How many characters the repo id may have for this competition."""
    fixed = len(FORMAT_VERSION) + 4 * len(SEPARATOR) + len(competition_id) + _REVISION_B64_LEN + _HASH_B64_LEN
    return MAX_COMMITMENT_BYTES - fixed


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str, expected_bytes: int, what: str) -> bytes:
    if not _B64URL_RE.fullmatch(text):
        raise ProtocolError(f"{what} is not base64url: {text!r}")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"{what} is not valid base64url: {exc}") from None
    if len(raw) != expected_bytes or _b64(raw) != text:
        raise ProtocolError(f"{what} must encode exactly {expected_bytes} bytes canonically, got {text!r}")
    return raw


def encode(reference: ModelReference) -> str:
    """The commitment string for `reference`; `ProtocolError` if it would not fit 128 bytes."""
    budget = max_repo_id_length(reference.competition_id)
    if len(reference.repo_id) > budget:
        raise ProtocolError(
            f"repo id {reference.repo_id!r} has {len(reference.repo_id)} characters but competition "
            f"{reference.competition_id!r} leaves {budget} in a {MAX_COMMITMENT_BYTES}-byte commitment; "
            f"use a repo id {len(reference.repo_id) - budget} characters shorter"
        )
    text = SEPARATOR.join(
        [
            FORMAT_VERSION,
            reference.competition_id,
            reference.repo_id,
            _b64(bytes.fromhex(reference.revision)),
            _b64(bytes.fromhex(reference.salted_hash)),
        ]
    )
    assert len(text.encode("ascii")) <= MAX_COMMITMENT_BYTES
    return text


def decode(data: str | bytes) -> ModelReference:
    """Parse a commitment; anything malformed raises `ProtocolError` (and nothing else)."""
    try:
        return _decode(data)
    except ProtocolError:
        raise
    except Exception as exc:  # the contract: only ProtocolError leaves decode
        raise ProtocolError(f"malformed commitment: {exc}") from None


def _decode(data: str | bytes) -> ModelReference:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if len(raw) > MAX_COMMITMENT_BYTES:
            raise ProtocolError(f"commitment has {len(raw)} bytes, more than {MAX_COMMITMENT_BYTES}")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("commitment is not ASCII text") from None
    elif isinstance(data, str):
        text = data
    else:
        raise ProtocolError(f"commitment must be text or bytes, got {type(data).__name__}")
    if not text.isascii():
        raise ProtocolError("commitment is not ASCII text")
    if len(text) > MAX_COMMITMENT_BYTES:
        raise ProtocolError(f"commitment has {len(text)} bytes, more than {MAX_COMMITMENT_BYTES}")
    if not text:
        raise ProtocolError("commitment is empty")
    parts = text.split(SEPARATOR)
    if parts[0] != FORMAT_VERSION:
        raise ProtocolError(f"unknown commitment format {parts[0][:16]!r}; this validator reads {FORMAT_VERSION!r}")
    if len(parts) != 5:
        raise ProtocolError(f"commitment must have 5 ':'-separated fields, got {len(parts)}")
    _, competition_id, repo_id, revision_b64, hash_b64 = parts
    revision = _unb64(revision_b64, 20, "revision").hex()
    salted_hash = _unb64(hash_b64, 32, "salted hash").hex()
    return ModelReference(repo_id=repo_id, revision=revision, salted_hash=salted_hash, competition_id=competition_id)
