"""The ModelHub port: publish and fetch checkpoints pinned to an exact revision.

One adapter (`hub.huggingface.HuggingFaceHub`) serves both the public Hugging Face Hub and the
project's local Hub-compatible server (`kit.localhub`); they differ only by endpoint.

Errors carry `fault` (`flock_subnet.errors.Fault`), decided by where the cause came from, never
by message text: `Fault.MINER` when the miner's reference or what the miner uploaded is at fault
(repo or revision not found, private, too large, a file name that cannot be written safely, a
branch named like a commit id that shadows the committed revision) and `Fault.VALIDATOR` when the hub
itself failed (rate limit, 5xx, timeout, a lying server): that failure is on the validator's side
of the line, so a validator scores the first as zero and retries the second without punishing
anyone. When the hub itself failed, the message says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flock_subnet.errors import Fault, FlockError


class HubError(FlockError):
    """A hub operation failed."""

    fault: Fault = Fault.VALIDATOR


class RepoNotFound(HubError):
    """The repository does not exist, or is private and the token cannot see it."""

    fault: Fault = Fault.MINER


class RevisionNotFound(HubError):
    """The repository exists but not at that revision."""

    fault: Fault = Fault.MINER


class Unauthorized(HubError):
    """The token is missing, invalid, or may not write to this repository."""

    fault: Fault = Fault.MINER


class UnsafeFileName(HubError):
    """The repository lists a file whose name cannot be written as a plain file: the uploader chose it."""

    fault: Fault = Fault.MINER


class TooLarge(HubError):
    """The files at the revision exceed the byte budget."""

    fault: Fault = Fault.MINER


class RateLimited(HubError):
    """HTTP 429: retry after `retry_after` seconds."""

    fault: Fault = Fault.VALIDATOR

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HubUnavailable(HubError):
    """Connection failure, timeout or 5xx: retry later."""

    fault: Fault = Fault.VALIDATOR


class IntegrityError(HubError):
    """The hub served bytes (or metadata) that contradict its own listing: retry later, blame no miner."""

    fault: Fault = Fault.VALIDATOR


@dataclass(frozen=True)
class RemoteFile:
    """A file in a repository at a revision, known before anything is downloaded."""

    name: str
    size: int
    sha256: str | None  # LFS files carry their sha256; small regular files may not
    blob_id: str | None = None  # git blob id


class ModelHub(ABC):
    """The port."""

    @abstractmethod
    def upload(self, folder: str | Path, repo_id: str, private: bool = True, message: str = "Upload model") -> str:
        """Create the repo if needed, upload the folder's files as one commit, return its 40-hex sha."""

    @abstractmethod
    def set_private(self, repo_id: str, private: bool) -> None:
        """Make the repository private or public."""

    @abstractmethod
    def files(self, repo_id: str, revision: str) -> list[RemoteFile]:
        """Names, sizes and sha256 of the files at `revision`, without downloading them."""

    @abstractmethod
    def download(
        self,
        repo_id: str,
        revision: str,
        dest: str | Path,
        allow_patterns: Sequence[str] | None = None,
        max_bytes: int | None = None,
    ) -> Path:
        """Download the files at exactly `revision` into `dest`; `TooLarge` before fetching past `max_bytes`."""
