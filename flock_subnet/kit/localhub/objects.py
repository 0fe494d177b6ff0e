"""Content-addressed file bodies of the local hub, and the ids git and LFS give to files.

Every body is stored once, at `objects/<first two hex>/<sha256>`, whichever repos and commits
use it. Bodies arrive in `incoming/` and are moved into place only after their size and sha256
are checked, so a stored object always holds exactly the bytes its name promises.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from flock_subnet.kit.localhub.wire import ApiError

_HEX64_RE = re.compile(r"[0-9a-f]{64}")

# Files the hub stores through LFS (the rest travel inline in the commit as "regular" files).
LFS_EXTENSIONS = frozenset(
    "7z arrow bin bz2 ckpt ftz gguf gz h5 joblib lz4 mlmodel model msgpack npy npz onnx ot parquet pb pickle pkl "
    "pt pth rar safetensors tar tflite tgz wasm xz zip zst".split()
)
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"*.{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in sorted(LFS_EXTENSIONS)).encode()


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob: sha1 of `blob <size>\\0<content>`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 (git's id, not security)


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands for a body in git."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def wants_lfs(path: str, size: int, sample: bytes = b"") -> bool:
    """Whether a file at `path` is stored through LFS (binary extensions, large files, binary content)."""
    name = path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext in LFS_EXTENSIONS or size >= LFS_SIZE_THRESHOLD or b"\0" in sample


class ObjectStore:
    """Bodies by sha256 under `root/objects`, received through `root/incoming`."""

    def __init__(self, root: str | Path) -> None:
        self.objects = Path(root) / "objects"
        self.incoming = Path(root) / "incoming"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not isinstance(sha256, str) or not _HEX64_RE.fullmatch(sha256):
            raise ApiError(400, f"invalid sha256 {sha256!r}")
        return self.objects / sha256[:2] / sha256

    def size(self, sha256: str) -> int | None:
        """The stored body's size, or None when no body with that sha256 is stored."""
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def put_bytes(self, data: bytes) -> str:
        """Store a small body; returns its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        if self.size(sha) is None:
            tmp = self.incoming / f"{uuid.uuid4().hex}.tmp"
            tmp.write_bytes(data)
            self._publish(tmp, sha)
        return sha

    def ingest(self, chunks: Iterator[bytes], expected_sha256: str, expected_size: int) -> None:
        """Receive a body piece by piece; keep it only if its size and sha256 are the expected ones."""
        self.path(expected_sha256)
        tmp = self.incoming / f"{uuid.uuid4().hex}.tmp"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > expected_size:
                        raise ApiError(400, f"body is larger than the announced {expected_size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            if size != expected_size or digest.hexdigest() != expected_sha256:
                raise ApiError(
                    400,
                    f"body ({size} bytes, sha256 {digest.hexdigest()}) does not match oid {expected_sha256} "
                    f"and size {expected_size}; upload the file's exact bytes",
                )
            self._publish(tmp, expected_sha256)
        finally:
            tmp.unlink(missing_ok=True)

    def _publish(self, tmp: Path, sha256: str) -> None:
        final = self.path(sha256)
        final.parent.mkdir(exist_ok=True)
        os.replace(tmp, final)
