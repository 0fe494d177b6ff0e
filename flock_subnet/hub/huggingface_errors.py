"""How `huggingface_hub` and HTTP failures become the `ModelHub` port's errors.

A missing repo or revision, a private repo and an oversized body are the miner's fault; a rate
limit, a 5xx, a timeout or a connection failure is the hub's, which is on the validator's side
(`Fault.VALIDATOR`: retry, blame no miner), and the message names the hub. A token the hub
rejects outright is the validator's own credentials problem, never a miner's.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # before huggingface_hub is imported (see hub.huggingface)

from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import httpx2  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from flock_subnet.errors import Fault  # noqa: E402
from flock_subnet.hub.base import (  # noqa: E402
    HubError,
    HubUnavailable,
    RateLimited,
    RepoNotFound,
    RevisionNotFound,
    TooLarge,
    Unauthorized,
)

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


def status_error(response: httpx2.Response, what: str) -> HubError:
    """The port's error for an HTTP error answer of the hub."""
    status = response.status_code
    detail = response.headers.get("X-Error-Message") or ""
    said = f" ({detail})" if detail else ""
    if status == 401 and detail == INVALID_CREDENTIALS:
        error = Unauthorized(f"{what}: the hub does not accept our token; fix --hub.token / HF_TOKEN")
        error.fault = Fault.VALIDATOR  # our own credentials are wrong: no miner is to blame
        return error
    if status in (401, 403):
        return Unauthorized(f"{what}: HTTP {status}{said}; check the token and that it may write to this namespace")
    if status == 404:
        return RepoNotFound(f"{what}: HTTP 404{said}; check the repo id")
    if status in (410, 451):  # deleted, or taken down for its content: what the miner published is gone
        return RepoNotFound(f"{what}: HTTP {status}{said}; the repository or file is no longer served")
    if status == 413:
        return TooLarge(f"{what}: HTTP 413{said}; the hub refused a body this large")
    if status == 429:
        retry_after = retry_after_s(response)
        wait = f"retry after {retry_after:g} s" if retry_after is not None else "retry later"
        return RateLimited(f"{what}: rate limited by the hub (HTTP 429); {wait}", retry_after=retry_after)
    if status == 408 or status >= 500:
        return HubUnavailable(f"{what}: the hub failed (HTTP {status}){said}; retry later")
    return HubError(f"{what}: the hub answered HTTP {status}{said}")


def coded_error(response: httpx2.Response, what: str) -> HubError:
    """Like `status_error`, first reading the hub's `X-Error-Code` (a streamed download has no client error)."""
    code = response.headers.get("X-Error-Code")
    if code == "RevisionNotFound":
        return RevisionNotFound(f"{what}: no such revision; the commit may have been removed")
    if code == "EntryNotFound":
        return RevisionNotFound(f"{what}: a listed file is missing at that revision")
    if code in ("RepoNotFound", "GatedRepo"):
        return RepoNotFound(f"{what}: repository not found, or private to a token we do not have")
    return status_error(response, what)


def retry_after_s(response: httpx2.Response) -> float | None:
    """The `Retry-After` header in seconds, when the hub sent a number."""
    value = (response.headers.get("Retry-After") or "").strip()
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


@contextmanager
def hub_errors(what: str) -> Iterator[None]:
    """Turn `huggingface_hub`/`httpx2` errors raised inside into the port's `HubError`s."""
    try:
        yield
    except HubError:
        raise
    except RevisionNotFoundError as exc:
        raise RevisionNotFound(f"{what}: no such revision; the commit may have been removed") from exc
    except RemoteEntryNotFoundError as exc:
        raise RevisionNotFound(f"{what}: a listed file is missing at that revision") from exc
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise RepoNotFound(f"{what}: repository not found, or private to a token we do not have") from exc
    except HfHubHTTPError as exc:
        raise status_error(exc.response, what) from exc
    except HFValidationError as exc:
        raise RepoNotFound(f"{what}: invalid repo id or revision ({exc})") from exc
    except OfflineModeIsEnabled as exc:
        raise HubUnavailable(f"{what}: the hub is out of reach: {exc}") from exc
    except (httpx2.TimeoutException, httpx2.TransportError) as exc:
        raise HubUnavailable(f"{what}: cannot reach the hub ({type(exc).__name__}: {exc}); retry later") from exc
