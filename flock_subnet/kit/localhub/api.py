"""The local hub's endpoints: the subset of the Hugging Face Hub API that `huggingface_hub` and
`transformers` use to create repos, upload (preupload, LFS batch, NDJSON commit), inspect
(info, refs, commits, tree, paths-info) and download (`resolve`) files at exact revisions.

Access rules follow the Hub: anyone reads public repos; a private repo is visible only to its
owner (anonymous callers get 401, other users 404 `RepoNotFound`, so existence never leaks);
only the owner of a namespace writes to it (403 otherwise); an unknown token is a 401. Branch
and tag names that look like a commit id are refused: they would shadow the commit they name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from flock_subnet.kit.localhub.api_upload import DEFAULT_MAX_OBJECT_BYTES, UploadRoutes
from flock_subnet.kit.localhub.store import FileEntry, HubStore, Repo, not_found_repo
from flock_subnet.kit.localhub.wire import ApiError, FileBody, Request, Response, error_response, json_response

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
INVALID_TOKEN = "Invalid credentials in Authorization header"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_COMMIT_LIKE = re.compile(r"(refs/(heads|tags)/)?[0-9a-fA-F]{40}")


def refuse_commit_like(name: str) -> None:
    """`ApiError(400)` for a branch or tag name that looks like a commit id: it would shadow commits."""
    if _COMMIT_LIKE.fullmatch(name):
        raise ApiError(400, f"ref name {name!r} looks like a commit id; choose a name that is not 40 hex digits")


class HubApp(UploadRoutes):
    """Routes requests to endpoint methods over a `HubStore`."""

    def __init__(
        self, store: HubStore, base_url: str, secret: bytes, max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
        max_user_bytes: int | None = None,
    ):
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.max_object_bytes = max_object_bytes
        self.max_user_bytes = max_user_bytes

    # ----- dispatch --------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        try:
            if req.method != "PUT" or req.segments[:1] != ["lfs-upload"]:
                req.user = self._authenticate(req)
            return self._route(req)
        except ApiError as exc:
            return error_response(exc)

    def _authenticate(self, req: Request) -> str | None:
        header = req.headers.get("Authorization") or ""
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, INVALID_TOKEN)
        user = self.store.user_for_token(token.strip())
        if user is None:
            raise ApiError(401, INVALID_TOKEN)
        return user

    def _route(self, req: Request) -> Response:
        s, m = req.segments, req.method
        if not s:
            return json_response({"name": "flock-subnet local hub", "users": self.store.users()})
        if s[0] == "api":
            return self._route_api(req, s[1:], m)
        if s[0] == "lfs-upload" and len(s) == 2 and m == "PUT":
            return self.lfs_put(req, s[1])
        repo_type, rest = "model", s
        if s[0] in ("datasets", "spaces") and len(s) >= 4 and (s[3] == "resolve" or s[2].endswith(".git")):
            repo_type, rest = TYPES[s[0]], s[1:]
        if len(rest) >= 4 and rest[2] == "resolve" and m in ("GET", "HEAD"):
            return self.resolve(req, repo_type, rest[0], rest[1], rest[3], "/".join(rest[4:]))
        if len(rest) == 6 and rest[1].endswith(".git") and rest[2:] == ["info", "lfs", "objects", "batch"] and m == "POST":
            return self.lfs_batch(req, repo_type, rest[0], rest[1][: -len(".git")])
        raise ApiError(404, f"no such endpoint: {m} /{'/'.join(s)}")

    def _route_api(self, req: Request, s: list[str], m: str) -> Response:
        if s == ["whoami-v2"] and m == "GET":
            return self.whoami(req)
        if s == ["repos", "create"] and m == "POST":
            return self.create_repo(req)
        if s == ["repos", "delete"] and m == "DELETE":
            return self.delete_repo(req)
        if s == ["validate-yaml"] and m == "POST":
            req.body()
            return json_response({"errors": [], "warnings": []})
        if len(s) == 1 and s[0] in TYPES and m == "GET":
            return self.list_repos(req, TYPES[s[0]])
        if len(s) >= 3 and s[0] in TYPES:
            repo_type, ns, name, rest = TYPES[s[0]], s[1], s[2], s[3:]
            route = self._repo_routes().get((m, rest[0] if rest else "", len(rest)))
            if route is None and rest and rest[0] == "tree" and len(rest) >= 2 and m == "GET":
                route = self.tree
            if route is not None:
                return route(req, repo_type, ns, name, rest[1:])
        raise ApiError(404, f"no such endpoint: {m} /api/{'/'.join(s)}")

    def _repo_routes(self) -> dict[tuple[str, str, int], Callable[..., Response]]:
        return {
            ("GET", "", 0): self.info,
            ("GET", "revision", 2): self.info,
            ("PUT", "settings", 1): self.settings,
            ("POST", "preupload", 2): self.preupload,
            ("POST", "commit", 2): self.commit,
            ("GET", "commits", 2): self.commits,
            ("GET", "refs", 1): self.list_refs,
            ("POST", "paths-info", 2): self.paths_info,
            ("POST", "tag", 2): self.create_tag,
            ("DELETE", "tag", 2): self.delete_tag,
            ("POST", "branch", 2): self.create_branch,
            ("DELETE", "branch", 2): self.delete_branch,
        }

    # ----- access ----------------------------------------------------------------------------------

    def readable(self, req: Request, repo_type: str, ns: str, name: str) -> Repo:
        repo = self.store.get_repo(repo_type, ns, name)
        if repo is None or (repo.private and req.user != repo.namespace):
            if req.user is None:
                raise ApiError(401, "Repository not found", "RepoNotFound")
            raise not_found_repo()
        return repo

    def writable(self, req: Request, repo_type: str, ns: str, name: str) -> Repo:
        repo = self.readable(req, repo_type, ns, name)
        if req.user is None:
            raise ApiError(401, "You must be authenticated (pass a token) to write to a repository")
        if req.user != repo.namespace:
            raise ApiError(403, f"user {req.user!r} may not write to {repo.id}: only {repo.namespace!r} can")
        return repo

    def _need_user(self, req: Request) -> str:
        if req.user is None:
            raise ApiError(401, "You must be authenticated (pass a token) for this call")
        return req.user

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.base_url}/{PREFIXES[repo.type]}{repo.id}"

    # ----- account and repos -----------------------------------------------------------------------

    def whoami(self, req: Request) -> Response:
        user = self._need_user(req)
        return json_response({
            "type": "user", "id": user, "name": user, "fullname": user, "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "local", "role": "write"}},
        })

    def create_repo(self, req: Request) -> Response:
        user = self._need_user(req)
        data = req.json()
        repo_type = data.get("type") or "model"
        name = str(data.get("name") or "")
        if "/" in name:
            ns_given, name = name.split("/", 1)
        else:
            ns_given = None
        namespace = data.get("organization") or ns_given or user
        private = data.get("visibility") == "private" or bool(data.get("private"))
        url = f"{self.base_url}/{PREFIXES.get(repo_type, '')}{namespace}/{name}"
        existing = self.store.get_repo(repo_type, namespace, name) if repo_type in PREFIXES else None
        if existing is not None and (not existing.private or existing.namespace == user):
            # 409 with the url, even for another user's public repo: the client reads `url` from it.
            raise ApiError(409, f"You already created this {repo_type} repo", extra={"url": url})
        if namespace != user:
            raise ApiError(403, f"user {user!r} may not create repositories in namespace {namespace!r}")
        repo = self.store.create_repo(repo_type, namespace, name, private, author=user)
        return json_response({"url": url, "name": repo.id, "id": repo.id})

    def delete_repo(self, req: Request) -> Response:
        user = self._need_user(req)
        data = req.json()
        name = str(data.get("name") or "")
        namespace = data.get("organization") or user
        repo = self.writable(req, data.get("type") or "model", namespace, name)
        self.store.delete_repo(repo)
        return json_response({})

    def settings(self, req: Request, repo_type: str, ns: str, name: str, _rest: list[str]) -> Response:
        repo = self.writable(req, repo_type, ns, name)
        data = req.json()
        if "visibility" in data:
            if data["visibility"] not in ("private", "public"):
                raise ApiError(400, "visibility must be 'private' or 'public'")
            self.store.set_private(repo, data["visibility"] == "private")
        elif "private" in data:
            self.store.set_private(repo, bool(data["private"]))
        return json_response({})

    def list_repos(self, req: Request, repo_type: str) -> Response:
        author, search = req.arg("author"), (req.arg("search") or "").lower()
        out = []
        for repo in self.store.list_repos(repo_type):
            if repo.private and req.user != repo.namespace:
                continue
            if (author and repo.namespace != author) or (search and search not in repo.id.lower()):
                continue
            head = self.store.resolve(repo, "main")
            out.append(self._summary(repo, head))
        return json_response(out)

    # ----- info, history, trees --------------------------------------------------------------------

    def _summary(self, repo: Repo, sha: str) -> dict[str, Any]:
        commit = self.store.get_commit(sha)
        return {
            "_id": f"{repo.rid:024x}", "id": repo.id, "author": repo.namespace, "sha": sha,
            "lastModified": commit.created_at, "createdAt": repo.created_at, "private": repo.private,
            "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
        }

    def info(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        repo = self.readable(req, repo_type, ns, name)
        sha = self.store.resolve(repo, rest[0] if rest else "main")
        files = self.store.files_at(sha)
        data = self._summary(repo, sha)
        data["usedStorage"] = sum(e.size for e in files.values())
        blobs = req.flag("blobs")
        data["siblings"] = [self._sibling(e, blobs) for e in files.values()]
        return json_response(data)

    @staticmethod
    def _sibling(entry: FileEntry, blobs: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"rfilename": entry.path}
        if blobs:
            item.update(size=entry.size, blobId=entry.blob_id)
            if entry.lfs:
                item["lfs"] = {"sha256": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
        return item

    def commits(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        repo = self.readable(req, repo_type, ns, name)
        sha = self.store.resolve(repo, rest[0])
        return json_response([
            {"id": c.sha, "title": c.title, "message": c.message, "date": c.created_at,
             "authors": [{"user": c.author, "avatar": None}]}
            for c in self.store.history(sha)
        ])

    def list_refs(self, req: Request, repo_type: str, ns: str, name: str, _rest: list[str]) -> Response:
        repo = self.readable(req, repo_type, ns, name)
        refs = self.store.refs(repo)
        data: dict[str, Any] = {
            "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": t} for n, t in refs["branch"]],
            "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": t} for n, t in refs["tag"]],
            "converts": [],
        }
        if req.flag("include_prs"):
            data["pullRequests"] = []
        return json_response(data)

    @staticmethod
    def _file_item(entry: FileEntry) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "file", "oid": entry.blob_id, "size": entry.size, "path": entry.path}
        if entry.lfs:
            item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
        return item

    @staticmethod
    def _dir_item(path: str, files: dict[str, FileEntry]) -> dict[str, Any]:
        digest = hashlib.sha1(path.encode())  # noqa: S324 (an id, not security)
        for p, e in files.items():
            if p.startswith(path + "/"):
                digest.update(f"{p}\0{e.blob_id}\n".encode())
        return {"type": "directory", "oid": digest.hexdigest(), "size": 0, "path": path}

    def tree(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        repo = self.readable(req, repo_type, ns, name)
        sha = self.store.resolve(repo, rest[0])
        base = "/".join(p for p in "/".join(rest[1:]).split("/") if p)
        files = self.store.files_at(sha)
        prefix = base + "/" if base else ""
        inside = {p: e for p, e in files.items() if p.startswith(prefix)}
        if base and not inside:
            raise ApiError(404, f"{base!r} does not exist at {sha}", "EntryNotFound", headers={"X-Repo-Commit": sha})
        recursive = req.flag("recursive")
        items: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for path, entry in inside.items():
            parts = path[len(prefix):].split("/")
            for depth in range(1, len(parts)):
                if not recursive and depth > 1:
                    break
                dirs.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                items.append(self._file_item(entry))
        items = [self._dir_item(d, files) for d in sorted(dirs)] + items
        return json_response(items)

    def paths_info(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        repo = self.readable(req, repo_type, ns, name)
        sha = self.store.resolve(repo, rest[0])
        files = self.store.files_at(sha)
        out = []
        for path in req.form().get("paths", []):
            path = path.strip("/")
            if path in files:
                out.append(self._file_item(files[path]))
            elif any(p.startswith(path + "/") for p in files):
                out.append(self._dir_item(path, files))
        return json_response(out)

    # ----- refs ------------------------------------------------------------------------------------

    def create_tag(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        repo = self.writable(req, repo_type, ns, name)
        data = req.json()
        tag = str(data.get("tag") or "")
        refuse_commit_like(tag)
        self.store.set_ref(repo, "tag", tag, self.store.resolve(repo, rest[0]))
        return json_response({})

    def delete_tag(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        self.store.delete_ref(self.writable(req, repo_type, ns, name), "tag", rest[0])
        return json_response({})

    def create_branch(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        repo = self.writable(req, repo_type, ns, name)
        data = req.json()
        start = self.store.resolve(repo, str(data.get("startingPoint") or "main"))
        refuse_commit_like(rest[0])
        self.store.set_ref(repo, "branch", rest[0], start)
        return json_response({})

    def delete_branch(self, req: Request, repo_type: str, ns: str, name: str, rest: list[str]) -> Response:
        self.store.delete_ref(self.writable(req, repo_type, ns, name), "branch", rest[0])
        return json_response({})

    # ----- download --------------------------------------------------------------------------------

    def resolve(self, req: Request, repo_type: str, ns: str, name: str, revision: str, path: str) -> Response:
        repo = self.readable(req, repo_type, ns, name)
        sha = self.store.resolve(repo, revision)
        entry = self.store.files_at(sha).get(path)
        if entry is None:
            raise ApiError(404, f"Entry not found: {path} at {sha}", "EntryNotFound", headers={"X-Repo-Commit": sha})
        headers = {"X-Repo-Commit": sha, "ETag": f'"{entry.etag}"', "Accept-Ranges": "bytes"}
        if entry.lfs:
            headers["X-Linked-Size"] = str(entry.size)
        start, end, status = 0, entry.size - 1, 200
        wanted = req.headers.get("Range")
        if wanted:
            match = _RANGE.match(wanted.strip())
            if not match or (not match.group(1) and not match.group(2)):
                raise ApiError(416, f"unsupported Range {wanted!r}", headers={"Content-Range": f"bytes */{entry.size}"})
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), entry.size - 1) if match.group(2) else entry.size - 1
            else:  # suffix range: the last N bytes
                start = max(entry.size - int(match.group(2)), 0)
            if start >= entry.size or start > end:
                if not (entry.size == 0 and start == 0):
                    raise ApiError(416, f"Range {wanted!r} is outside the {entry.size}-byte file",
                                   headers={"Content-Range": f"bytes */{entry.size}"})
            else:
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        length = max(end - start + 1, 0)
        return Response(status, FileBody(self.store.blobs.path(entry.sha256), start, length), headers,
                        "application/octet-stream")
