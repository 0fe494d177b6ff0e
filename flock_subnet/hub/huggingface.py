"""The `ModelHub` adapter over the real `huggingface_hub` client: the public Hub or the local server.

- `upload` creates the repo (private by default) and commits a folder; returns the commit's sha.
- `files` lists names, sizes and LFS sha256 at a revision without downloading anything.
- `download` checks the listing against `max_bytes` first (`TooLarge`, nothing written), then
  streams each file of exactly that commit, and refuses any file whose size or hash differs from
  the listing (`IntegrityError`): a validator never evaluates bytes the hub did not vouch for.
  Each file has a deadline scaled by its listed size (`min_bytes_per_s`, at least
  `min_deadline_s`), and every read waits at most the read timeout, so a stalled or trickling
  body ends (`HubUnavailable`) within the deadline plus one read timeout.
- Client errors become the port's errors (`RepoNotFound`, `RevisionNotFound`, `Unauthorized`,
  `RateLimited`, `HubUnavailable`, ...; see `hub.huggingface_errors`), whose `fault` tells a
  miner's fault from a failure on the validator's side (the hub's).

Process-wide client settings made on import, and why:
- `HF_HUB_DISABLE_XET=1` unless set: with `hf-xet` installed and Xet enabled the client uploads
  every LFS file through a Xet storage service, with no fallback to plain LFS; the local hub has
  no Xet service, and the public Hub still accepts plain LFS uploads. It must be set before
  `huggingface_hub` is imported (later, the module constant is set as well).
- an HTTP client with default timeouts on every request (the library's own has none), and in
  offline mode (`HF_HUB_OFFLINE=1`) requests to loopback addresses stay allowed: the local hub
  on this machine is not "online".
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")

import hashlib  # noqa: E402
import ipaddress  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx2  # noqa: E402
from huggingface_hub import HfApi, constants, hf_hub_url  # noqa: E402
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled  # noqa: E402
from huggingface_hub.utils import (  # noqa: E402
    build_hf_headers,
    disable_progress_bars,
    filter_repo_objects,
    get_session,
    set_client_factory,
)

from flock_subnet import __version__  # noqa: E402
from flock_subnet.config import DEFAULT_HUB_ENDPOINT, progress_enabled  # noqa: E402
from flock_subnet.hub.base import (  # noqa: E402
    HubError,
    HubUnavailable,
    IntegrityError,
    ModelHub,
    RemoteFile,
    RevisionNotFound,
    TooLarge,
    UnsafeFileName,
)
from flock_subnet.hub.huggingface_errors import coded_error, hub_errors  # noqa: E402
from flock_subnet.telemetry import progress_bar  # noqa: E402

if os.environ.get("HF_HUB_DISABLE_XET", "").strip().lower() in {"1", "true", "yes", "on"}:
    constants.HF_HUB_DISABLE_XET = True

DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
MIN_BYTES_PER_S = 2 * 1024 * 1024  # a download slower than this on average is abandoned
MIN_DEADLINE_S = 60.0
_HEX40 = re.compile(r"[0-9a-f]{40}")


# ----- the process-wide HTTP client ------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_timeouts() -> dict[str, float]:
    return {"connect": CONNECT_TIMEOUT_S, "read": DEFAULT_TIMEOUT_S, "write": DEFAULT_TIMEOUT_S, "pool": DEFAULT_TIMEOUT_S}


def _request_hook(request: httpx2.Request) -> None:
    if constants.is_offline_mode() and not _is_loopback(request.url.host):
        raise OfflineModeIsEnabled(
            f"Cannot reach {request.url}: offline mode is enabled (HF_HUB_OFFLINE). Unset it to reach this hub."
        )
    # Some client calls pass `timeout=None` explicitly (no limit at all); give those the defaults.
    timeouts = request.extensions.get("timeout")
    if isinstance(timeouts, dict) and None in timeouts.values():
        defaults = _default_timeouts()
        request.extensions["timeout"] = {k: defaults.get(k, DEFAULT_TIMEOUT_S) if v is None else v for k, v in timeouts.items()}


def _client_factory() -> httpx2.Client:
    return httpx2.Client(
        event_hooks={"request": [_request_hook]},
        follow_redirects=True,
        timeout=httpx2.Timeout(DEFAULT_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
    )


_client_lock = threading.Lock()
_client_installed = False


def install_http_client() -> None:
    """Make `huggingface_hub` (and `transformers`) use the client described above; idempotent."""
    global _client_installed
    with _client_lock:
        if not _client_installed:
            set_client_factory(_client_factory)
            _client_installed = True


install_http_client()


# ----- the adapter ---------------------------------------------------------------------------------


class HuggingFaceHub(ModelHub):
    """`ModelHub` over `huggingface_hub`. `repo_type="dataset"` serves dataset repos the same way."""

    def __init__(
        self,
        endpoint: str = DEFAULT_HUB_ENDPOINT,
        token: str | None = None,
        *,
        repo_type: str = "model",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        min_bytes_per_s: float = MIN_BYTES_PER_S,
        min_deadline_s: float = MIN_DEADLINE_S,
    ) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise HubError(f"hub endpoint must be an http(s) URL, got {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.repo_type = repo_type
        self.timeout_s = timeout_s
        self.min_bytes_per_s = min_bytes_per_s
        self.min_deadline_s = min_deadline_s
        self.api = HfApi(endpoint=self.endpoint, token=token, library_name="flock-subnet", library_version=__version__)

    def __repr__(self) -> str:
        return f"HuggingFaceHub(endpoint={self.endpoint!r}, repo_type={self.repo_type!r})"

    # ----- publishing --------------------------------------------------------------------------------

    def upload(self, folder: str | Path, repo_id: str, private: bool = True, message: str = "Upload model") -> str:
        folder = Path(folder)
        if not folder.is_dir():
            raise HubError(f"{folder} is not a folder; pass the checkpoint folder to upload")
        if not progress_enabled():
            disable_progress_bars()  # the client's upload bars, under the project's policy
        with hub_errors(f"upload {folder} to {repo_id}"):
            self._ensure_repo(repo_id, private)
            info = self.api.upload_folder(
                folder_path=folder, repo_id=repo_id, repo_type=self.repo_type, commit_message=message
            )
        sha = str(info.oid)
        if not _HEX40.fullmatch(sha):
            raise HubError(f"upload to {repo_id}: the hub answered commit id {sha!r}, not a 40-hex sha")
        return sha

    def _ensure_repo(self, repo_id: str, private: bool) -> None:
        # Like create_repo(exist_ok=True), without its path that cannot parse non-huggingface.co URLs.
        try:
            self.api.create_repo(repo_id, repo_type=self.repo_type, private=private, exist_ok=False)
        except HfHubHTTPError as exc:
            status = exc.response.status_code
            if status == 409:
                return  # it exists already
            if status in (401, 402, 403):  # may not create here; the repo may still exist and be writable
                try:
                    self.api.repo_info(repo_id, repo_type=self.repo_type, timeout=self.timeout_s)
                except HfHubHTTPError:
                    raise exc from None
                return
            raise

    def set_private(self, repo_id: str, private: bool) -> None:
        with hub_errors(f"make {repo_id} {'private' if private else 'public'}"):
            self.api.update_repo_settings(repo_id, private=private, repo_type=self.repo_type)

    def delete_repo(self, repo_id: str, missing_ok: bool = True) -> None:
        with hub_errors(f"delete {repo_id}"):
            self.api.delete_repo(repo_id, repo_type=self.repo_type, missing_ok=missing_ok)

    def whoami(self) -> str:
        """The user name the token belongs to."""
        with hub_errors("whoami"):
            return str(self.api.whoami()["name"])

    # ----- inspecting --------------------------------------------------------------------------------

    def resolve(self, repo_id: str, revision: str = "main") -> str:
        """The 40-hex commit sha a branch, tag or sha names."""
        return self.listing(repo_id, revision)[0]

    def files(self, repo_id: str, revision: str) -> list[RemoteFile]:
        return self.listing(repo_id, revision)[1]

    def listing(self, repo_id: str, revision: str) -> tuple[str, list[RemoteFile]]:
        """(commit sha, files) at `revision`, from one metadata call."""
        what = f"list {repo_id}@{revision}"
        with hub_errors(what):
            info = self.api.repo_info(
                repo_id, revision=revision, repo_type=self.repo_type, files_metadata=True, timeout=self.timeout_s
            )
        sha = str(getattr(info, "sha", "") or "")
        if not _HEX40.fullmatch(sha):
            raise IntegrityError(f"{what}: the hub gave no 40-hex commit sha ({sha!r})")
        if _HEX40.fullmatch(revision) and sha != revision:
            # a branch or tag the uploader named like a commit id, pointing elsewhere
            raise RevisionNotFound(
                f"{what}: the repository resolves this commit id to commit {sha}: a ref named like a commit id "
                "shadows it; commit the revision's real sha"
            )
        files = []
        for sibling in info.siblings or []:
            if sibling.size is None:
                raise IntegrityError(f"{what}: the hub listed {sibling.rfilename!r} without a size")
            files.append(
                RemoteFile(
                    name=sibling.rfilename,
                    size=int(sibling.size),
                    sha256=sibling.lfs.sha256 if sibling.lfs else None,
                    blob_id=sibling.blob_id,
                )
            )
        return sha, files

    # ----- downloading -------------------------------------------------------------------------------

    def download(
        self,
        repo_id: str,
        revision: str,
        dest: str | Path,
        allow_patterns: Sequence[str] | None = None,
        max_bytes: int | None = None,
    ) -> Path:
        sha, listing = self.listing(repo_id, revision)
        chosen = list(filter_repo_objects(listing, allow_patterns=list(allow_patterns) if allow_patterns is not None else None, key=lambda f: f.name))
        for remote in chosen:
            _check_relative(remote.name, repo_id)
        total = sum(f.size for f in chosen)
        if max_bytes is not None and total > max_bytes:
            raise TooLarge(
                f"{repo_id}@{sha[:8]} holds {total:,} bytes in {len(chosen)} files, over the {max_bytes:,}-byte budget"
            )
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        try:
            with _byte_progress(total, f"download {repo_id}@{sha[:8]}") as bar:
                for remote in chosen:
                    target = dest / remote.name
                    self._fetch(repo_id, sha, remote, target, bar)
                    written.append(target)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return dest

    def deadline_s(self, size: int) -> float:
        """Seconds a file of `size` listed bytes may take to download."""
        return max(self.min_deadline_s, size / self.min_bytes_per_s)

    def _fetch(self, repo_id: str, sha: str, remote: RemoteFile, target: Path, bar) -> None:
        what = f"download {remote.name} of {repo_id}@{sha[:8]}"
        url = hf_hub_url(repo_id, remote.name, repo_type=self.repo_type, revision=sha, endpoint=self.endpoint)
        headers = build_hf_headers(token=self.token, library_name="flock-subnet", library_version=__version__)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".incomplete")
        digest = hashlib.sha256()
        # git's blob id (sha1) is the only hash a hub lists for small regular files; LFS files have sha256
        blob = hashlib.sha1(b"blob %d\0" % remote.size) if remote.sha256 is None else None  # noqa: S324
        received = 0
        deadline_s = self.deadline_s(remote.size)
        started = time.monotonic()
        try:
            with hub_errors(what):
                timeout = httpx2.Timeout(self.timeout_s, connect=CONNECT_TIMEOUT_S)
                with get_session().stream("GET", url, headers=headers, timeout=timeout) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise coded_error(response, what)
                    served = response.headers.get("X-Repo-Commit")
                    if served is not None and served != sha:
                        raise IntegrityError(f"{what}: the hub served commit {served} instead of {sha}")
                    with open(partial, "wb") as out:
                        for chunk in response.iter_bytes():  # as the bytes arrive: the deadline is checked per read
                            if time.monotonic() - started > deadline_s:
                                raise HubUnavailable(
                                    f"{what}: {received:,} of {remote.size:,} bytes after {deadline_s:g} s, below the "
                                    f"{self.min_bytes_per_s:,.0f} B/s minimum; the hub is too slow, retry later"
                                )
                            received += len(chunk)
                            if received > remote.size:
                                raise IntegrityError(f"{what}: the hub sent more than the {remote.size} bytes it listed")
                            digest.update(chunk)
                            if blob is not None:
                                blob.update(chunk)
                            out.write(chunk)
                            bar.update(len(chunk))
            if received != remote.size:
                raise IntegrityError(f"{what}: got {received} bytes, the hub listed {remote.size}")
            if remote.sha256 is not None and digest.hexdigest() != remote.sha256:
                raise IntegrityError(f"{what}: sha256 {digest.hexdigest()} differs from the {remote.sha256} the hub listed")
            if blob is not None and remote.blob_id and blob.hexdigest() != remote.blob_id:
                raise IntegrityError(f"{what}: git blob id {blob.hexdigest()} differs from the {remote.blob_id} the hub listed")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)


def _check_relative(name: str, repo_id: str) -> None:
    """`UnsafeFileName` (the uploader's fault) for a listed name that is not a plain relative path."""
    parts = name.replace("\\", "/").split("/")
    if (
        name.startswith("/") or any(p in ("", ".", "..") for p in parts) or ":" in parts[0]
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise UnsafeFileName(f"{repo_id} lists an unsafe file name {name[:120]!r}; refusing to write it")


@contextmanager
def _byte_progress(total: int, description: str):
    bar = progress_bar(total, description, unit="B", in_bytes=True)
    try:
        yield bar
    finally:
        bar.close()
