"""The local hub's upload endpoints: preupload (regular or LFS per file), the LFS batch API with
signed upload URLs, object uploads checked against their sha256, and NDJSON commits.

An upload URL carries an HMAC signature of (oid, size, expiry, user) because the client sends no
token when it PUTs the body; the body is kept only if its size and sha256 are the announced ones
(also when the hub already has it: the user proves they hold the bytes), and a commit may
reference an LFS object only when that user may link it (`access.may_link`): a body the user
neither uploaded nor can read is asked for as if the hub did not have it, so nobody links or
probes for a blob of someone else's private repository by its hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import quote

from flock_subnet.kit.localhub.objects import git_blob_id, lfs_pointer, wants_lfs
from flock_subnet.kit.localhub.store import Delete, FileEntry, HubStore, Put, Repo, safe_path
from flock_subnet.kit.localhub.wire import ApiError, Request, Response, json_response

_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_COMMIT_BYTES = 512 * 1024 * 1024
MAX_COMMIT_LINE = 64 * 1024 * 1024
DEFAULT_MAX_OBJECT_BYTES = 64 * 1024**3
UPLOAD_URL_TTL_S = 3600


class UploadRoutes:
    """Upload endpoints, mixed into `HubApp` (which provides `writable` and `_repo_url`)."""

    store: HubStore
    secret: bytes
    base_url: str
    max_object_bytes: int
    max_user_bytes: int | None

    def _over_quota(self, user: str, size: int) -> str | None:
        if self.max_user_bytes is None:
            return None
        used = self.store.bytes_uploaded(user)
        if used + size <= self.max_user_bytes:
            return None
        return f"{user or 'anonymous'} has uploaded {used} bytes; {size} more is over the {self.max_user_bytes}-byte quota"

    def writable(self, req: Request, repo_type: str, ns: str, name: str) -> Repo:
        raise NotImplementedError

    def _repo_url(self, repo: Repo) -> str:
        raise NotImplementedError

    # ----- upload ----------------------------------------------------------------------------------

    def preupload(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        repo = self.writable(req, repo_type, ns, name)
        head = self.store.resolve(repo, rest[0])
        current = self.store.files_at(head)
        out = []
        items = req.json().get("files", [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ApiError(400, "preupload body must be {\"files\": [{\"path\": ..., \"size\": ...}, ...]}")
        for item in items:
            path = safe_path(item.get("path"))
            size = item.get("size") or 0
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ApiError(400, f"file {path!r}: size must be a non-negative integer")
            try:
                sample = base64.b64decode(item.get("sample") or "")
            except (binascii.Error, ValueError):
                sample = b""
            lfs = wants_lfs(path, size, sample)
            existing = current.get(path)
            oid = None
            if existing is not None and existing.lfs == lfs:
                oid = existing.sha256 if lfs else existing.blob_id
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return json_response({"files": out, "commitOid": head})

    def _sign(self, oid: str, size: int, expires: int, user: str) -> str:
        return hmac.new(self.secret, f"{oid}:{size}:{expires}:{user}".encode(), hashlib.sha256).hexdigest()

    def lfs_batch(self, req: Request, repo_type: str, ns: str, name: str) -> Response:
        self.writable(req, repo_type, ns, name)
        user = req.user or ""
        data = req.json()
        if not isinstance(data.get("objects", []), list) or not all(isinstance(o, dict) for o in data.get("objects", [])):
            raise ApiError(400, "LFS batch body must list objects as {\"oid\": ..., \"size\": ...}")
        if data.get("operation") != "upload":
            raise ApiError(400, "this hub serves LFS uploads only; download files through /resolve")
        base = f"http://{req.headers.get('Host')}" if req.headers.get("Host") else self.base_url
        expires = int(time.time()) + UPLOAD_URL_TTL_S
        objects = []
        for obj in data.get("objects", []):
            oid, size = obj.get("oid"), obj.get("size")
            if not isinstance(oid, str) or not _HEX64.fullmatch(oid) or not isinstance(size, int) or size < 0:
                objects.append({"oid": str(oid), "size": size if isinstance(size, int) else 0,
                                "error": {"code": 422, "message": "oid must be a sha256 hex string and size a non-negative int"}})
                continue
            if size > self.max_object_bytes:
                objects.append({"oid": oid, "size": size,
                                "error": {"code": 422, "message": f"object of {size} bytes is over this hub's {self.max_object_bytes}-byte limit"}})
                continue
            if self.store.blobs.size(oid) == size and self.store.may_link(user, oid):
                objects.append({"oid": oid, "size": size})
                continue
            over = self._over_quota(user, size)
            if over is not None:
                objects.append({"oid": oid, "size": size, "error": {"code": 422, "message": over}})
                continue
            sig = self._sign(oid, size, expires, user)
            href = f"{base}/lfs-upload/{oid}?size={size}&expires={expires}&user={quote(user)}&sig={sig}"
            objects.append({"oid": oid, "size": size, "authenticated": True, "actions": {"upload": {"href": href, "header": {}}}})
        return json_response({"transfer": "basic", "hash_algo": "sha256", "objects": objects},
                             content_type="application/vnd.git-lfs+json")

    def lfs_put(self, req: Request, oid: str) -> Response:
        try:
            size, expires = int(req.arg("size", "")), int(req.arg("expires", ""))
        except ValueError:
            raise ApiError(403, "upload URL is not signed; ask the LFS batch endpoint for one") from None
        user = req.arg("user", "") or ""
        if not hmac.compare_digest(self._sign(oid, size, expires, user), req.arg("sig", "") or "") or expires < time.time():
            raise ApiError(403, "upload URL signature is invalid or expired; ask the LFS batch endpoint again")
        over = self._over_quota(user, size)
        if over is not None:
            raise ApiError(413, over)
        self.store.blobs.ingest(req.chunks(size), oid, size)  # checked against the oid even when stored already
        self.store.record_upload(user, oid, size)
        return Response(200, b"", {}, "text/plain")

    def commit(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        repo = self.writable(req, repo_type, ns, name)
        if req.flag("create_pr"):
            raise ApiError(400, "pull requests are not supported by this hub; commit to a branch")
        branch = rest[0]
        self.store.branch_head(repo, branch)
        header: dict[str, Any] | None = None
        ops: list[Put | Delete] = []
        for line in req.lines(MAX_COMMIT_BYTES, MAX_COMMIT_LINE):
            try:
                record = json.loads(line)
                key, value = record["key"], record["value"]
                if not isinstance(value, dict):
                    raise TypeError(key)
            except (ValueError, KeyError, TypeError, RecursionError):
                raise ApiError(400, "commit body must be NDJSON lines of {\"key\": ..., \"value\": {...}}") from None
            if key == "header":
                header = value
            elif key == "file":
                ops.append(Put(self._inline_file(value, req.user)))
            elif key == "lfsFile":
                ops.append(Put(self._lfs_file(value, req.user)))
            elif key in ("deletedFile", "deletedFolder"):
                ops.append(Delete(safe_path(str(value.get("path", "")).rstrip("/")), folder=key == "deletedFolder"))
            else:
                raise ApiError(400, f"unsupported commit operation {key!r}")
        if header is None:
            raise ApiError(400, "commit body has no header line")
        sha = self.store.commit(
            repo, branch, ops, title=str(header.get("summary") or "Upload files"),
            message=str(header.get("description") or ""), author=req.user or "", parent=header.get("parentCommit"),
        )
        return json_response({"success": True, "commitOid": sha, "commitUrl": f"{self._repo_url(repo)}/commit/{sha}",
                              "pullRequestUrl": None})

    def _inline_file(self, value: dict[str, Any], user: str | None) -> FileEntry:
        path = safe_path(value.get("path"))
        if value.get("encoding", "base64") != "base64":
            raise ApiError(400, f"file {path!r}: only base64 encoding is supported")
        try:
            content = base64.b64decode(value.get("content") or "", validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, f"file {path!r}: content is not valid base64") from None
        over = self._over_quota(user or "", len(content))
        if over is not None:
            raise ApiError(413, over)
        sha = self.store.blobs.put_bytes(content)
        self.store.record_upload(user, sha, len(content))
        return FileEntry(path, len(content), sha, git_blob_id(content), False)

    def _lfs_file(self, value: dict[str, Any], user: str | None) -> FileEntry:
        path = safe_path(value.get("path"))
        oid, size = value.get("oid"), value.get("size")
        if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str) or not isinstance(size, int):
            raise ApiError(400, f"lfsFile {path!r} needs algo sha256, an oid and a size")
        if self.store.blobs.size(oid) != size or not self.store.may_link(user, oid):
            raise ApiError(422, f"LFS object {oid} for {path!r} was not uploaded (or has another size); upload it first")
        return FileEntry(path, size, oid, git_blob_id(lfs_pointer(oid, size)), True)
