"""Storage of the local hub: users, repositories, immutable commits, branches and tags.

Layout under `root`:

    hub.sqlite             users/tokens, repos, commits, per-commit file maps, branches and tags
    objects/, incoming/    file bodies by sha256 (`objects.ObjectStore`, `HubStore.blobs`)

A commit's file map is stored whole, so any commit id describes the same files forever, even
after newer commits or branch moves. Deleting a repository drops its rows but keeps the bodies
(other repos may share them). All methods are thread-safe (one `flock_subnet.sqlitedb.Database`:
one connection behind a lock).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from flock_subnet.kit.localhub.access import (
    DEFAULT_GRACE_S,
    Collected,
    add_uploads_table,
    bytes_uploaded,
    collect_garbage,
    may_link,
    record_upload,
)
from flock_subnet.kit.localhub.objects import (
    GITATTRIBUTES,
    ObjectStore,
    git_blob_id,
    lfs_pointer,
)
from flock_subnet.kit.localhub.wire import ApiError
from flock_subnet.sqlitedb import Database, Schema, run_script

REPO_TYPES = ("model", "dataset", "space")
_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_HEX40_RE = re.compile(r"[0-9a-f]{40}")
MAX_PATH_LENGTH = 1000

_TABLES = """
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, user TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (
    rid INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    private INTEGER NOT NULL, created_at TEXT NOT NULL, UNIQUE (type, namespace, name));
CREATE TABLE IF NOT EXISTS commits (
    sha TEXT PRIMARY KEY, rid INTEGER NOT NULL, parent TEXT, title TEXT NOT NULL, message TEXT NOT NULL,
    author TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    commit_sha TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
    blob_id TEXT NOT NULL, lfs INTEGER NOT NULL, PRIMARY KEY (commit_sha, path));
CREATE TABLE IF NOT EXISTS refs (
    rid INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (rid, kind, name));
"""


def _create_tables(conn: sqlite3.Connection) -> None:
    run_script(conn, _TABLES)


# IF NOT EXISTS in version 1: hub files from before the schema was versioned pass through unchanged.
SCHEMA = Schema(
    name="local hub", steps=(_create_tables, add_uploads_table), fresh_start="start the local hub on another folder"
)


def not_found_repo() -> ApiError:
    return ApiError(404, "Repository not found", "RepoNotFound")


def now_iso() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def check_name(part: str, what: str) -> None:
    if not _NAME_RE.fullmatch(part) or "--" in part or ".." in part or part.endswith(".git"):
        raise ApiError(400, f"invalid {what} {part!r}: use letters, digits, '.', '_', '-' (at most 96 characters)")


def safe_path(path: str) -> str:
    """A repo-relative file path with no `..`, no empty or absolute parts; `ApiError(400)` otherwise."""
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
        raise ApiError(400, f"invalid file path {path!r}")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in path or "\0" in path or parts[0] == ".git":
        raise ApiError(400, f"invalid file path {path!r}: no '..', '.', empty parts, backslashes or .git/")
    return path


@dataclass(frozen=True)
class Repo:
    rid: int
    type: str
    namespace: str
    name: str
    private: bool
    created_at: str

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit: `blob_id` is the git blob id of the content, or of the LFS pointer."""

    path: str
    size: int
    sha256: str
    blob_id: str
    lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id


@dataclass(frozen=True)
class CommitRecord:
    sha: str
    parent: str | None
    title: str
    message: str
    author: str
    created_at: str


@dataclass(frozen=True)
class Put:
    entry: FileEntry


@dataclass(frozen=True)
class Delete:
    path: str
    folder: bool = False


class HubStore:
    """The persistent state of one local hub."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.blobs = ObjectStore(self.root)
        self._db = Database.open(self.root / "hub.sqlite", SCHEMA)

    def close(self) -> None:
        self._db.close()

    # ----- who may link a stored body ----------------------------------------------------------------

    def record_upload(self, user: str | None, sha256: str, size: int) -> None:
        record_upload(self._db, user, sha256, size)

    def bytes_uploaded(self, user: str | None) -> int:
        return bytes_uploaded(self._db, user)

    def may_link(self, user: str | None, sha256: str) -> bool:
        return may_link(self._db, user, sha256)

    def collect_garbage(self, grace_s: float = DEFAULT_GRACE_S) -> Collected:
        """Reclaim the bodies no commit refers to (see `access.collect_garbage`)."""
        return collect_garbage(self._db, self.root, grace_s)

    # ----- users -----------------------------------------------------------------------------------

    def set_tokens(self, tokens: dict[str, str]) -> None:
        """Give each user exactly the token listed (user -> token); other users keep theirs."""
        with self._db.transaction() as db:
            for user, token in tokens.items():
                check_name(user, "user name")
                if not token:
                    raise ApiError(400, f"empty token for user {user!r}")
                db.execute("DELETE FROM tokens WHERE user = ? OR token = ?", (user, token))
                db.execute("INSERT INTO tokens (token, user) VALUES (?, ?)", (token, user))

    def user_for_token(self, token: str) -> str | None:
        row = self._db.query_one("SELECT user FROM tokens WHERE token = ?", (token,))
        return row[0] if row else None

    def users(self) -> list[str]:
        return [r[0] for r in self._db.query("SELECT DISTINCT user FROM tokens ORDER BY user")]

    # ----- repos -----------------------------------------------------------------------------------

    def get_repo(self, repo_type: str, namespace: str, name: str) -> Repo | None:
        row = self._db.query_one(
            "SELECT rid, type, namespace, name, private, created_at FROM repos WHERE type=? AND namespace=? AND name=?",
            (repo_type, namespace, name),
        )
        return Repo(row[0], row[1], row[2], row[3], bool(row[4]), row[5]) if row else None

    def list_repos(self, repo_type: str) -> list[Repo]:
        rows = self._db.query(
            "SELECT rid, type, namespace, name, private, created_at FROM repos WHERE type=? ORDER BY namespace, name",
            (repo_type,),
        )
        return [Repo(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def create_repo(self, repo_type: str, namespace: str, name: str, private: bool, author: str) -> Repo:
        """A new repo whose `main` branch holds an initial commit with `.gitattributes`; 409 if it exists."""
        if repo_type not in REPO_TYPES:
            raise ApiError(400, f"invalid repo type {repo_type!r}; use one of {', '.join(REPO_TYPES)}")
        check_name(namespace, "namespace")
        check_name(name, "repo name")
        attributes = self.blobs.put_bytes(GITATTRIBUTES)
        with self._db.transaction() as db:
            if self.get_repo(repo_type, namespace, name) is not None:
                raise ApiError(409, f"You already created this {repo_type} repo: {namespace}/{name}")
            created = now_iso()
            cur = db.execute(
                "INSERT INTO repos (type, namespace, name, private, created_at) VALUES (?, ?, ?, ?, ?)",
                (repo_type, namespace, name, int(private), created),
            )
            rid = int(cur.lastrowid)
            entry = FileEntry(".gitattributes", len(GITATTRIBUTES), attributes, git_blob_id(GITATTRIBUTES), False)
            sha = self._write_commit(db, rid, None, {entry.path: entry}, "initial commit", "", author)
            db.execute("INSERT INTO refs (rid, kind, name, target) VALUES (?, 'branch', 'main', ?)", (rid, sha))
        return Repo(rid, repo_type, namespace, name, private, created)

    def delete_repo(self, repo: Repo) -> None:
        with self._db.transaction() as db:
            shas = [r[0] for r in db.execute("SELECT sha FROM commits WHERE rid = ?", (repo.rid,))]
            db.executemany("DELETE FROM files WHERE commit_sha = ?", [(s,) for s in shas])
            db.execute("DELETE FROM commits WHERE rid = ?", (repo.rid,))
            db.execute("DELETE FROM refs WHERE rid = ?", (repo.rid,))
            db.execute("DELETE FROM repos WHERE rid = ?", (repo.rid,))

    def set_private(self, repo: Repo, private: bool) -> None:
        with self._db.transaction() as db:
            db.execute("UPDATE repos SET private = ? WHERE rid = ?", (int(private), repo.rid))

    # ----- revisions -------------------------------------------------------------------------------

    def resolve(self, repo: Repo, revision: str) -> str:
        """The commit id a branch, tag, `refs/heads/..`, `refs/tags/..` or full commit id names; 404 otherwise."""
        with self._db.read() as db:
            if _HEX40_RE.fullmatch(revision):
                row = db.execute("SELECT sha FROM commits WHERE sha = ? AND rid = ?", (revision, repo.rid)).fetchone()
                if row:
                    return row[0]
            for kind, name in _ref_candidates(revision):
                row = db.execute(
                    "SELECT target FROM refs WHERE rid = ? AND kind = ? AND name = ?", (repo.rid, kind, name)
                ).fetchone()
                if row:
                    return row[0]
        raise ApiError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def branch_head(self, repo: Repo, branch: str) -> str:
        name = branch[len("refs/heads/"):] if branch.startswith("refs/heads/") else branch
        row = self._db.query_one(
            "SELECT target FROM refs WHERE rid = ? AND kind = 'branch' AND name = ?", (repo.rid, name)
        )
        if not row:
            raise ApiError(404, f"Invalid rev id: {branch} (commits go to an existing branch)", "RevisionNotFound")
        return row[0]

    def refs(self, repo: Repo) -> dict[str, list[tuple[str, str]]]:
        rows = self._db.query("SELECT kind, name, target FROM refs WHERE rid = ? ORDER BY name", (repo.rid,))
        out: dict[str, list[tuple[str, str]]] = {"branch": [], "tag": []}
        for kind, name, target in rows:
            out[kind].append((name, target))
        return out

    def set_ref(self, repo: Repo, kind: str, name: str, target: str, create_only: bool = True) -> None:
        if kind == "branch":
            check_name(name, "branch name")
        elif not name or len(name) > 200 or any(c in name for c in " ~^:?*[\\\0") or ".." in name:
            raise ApiError(400, f"invalid tag name {name!r}")
        with self._db.transaction() as db:
            exists = db.execute("SELECT 1 FROM refs WHERE rid=? AND kind=? AND name=?", (repo.rid, kind, name)).fetchone()
            if exists and create_only:
                raise ApiError(409, f"{kind} {name!r} already exists")
            db.execute("INSERT OR REPLACE INTO refs (rid, kind, name, target) VALUES (?, ?, ?, ?)", (repo.rid, kind, name, target))

    def delete_ref(self, repo: Repo, kind: str, name: str) -> None:
        if kind == "branch" and name == "main":
            raise ApiError(403, "the main branch cannot be deleted")
        with self._db.transaction() as db:
            if db.execute("DELETE FROM refs WHERE rid=? AND kind=? AND name=?", (repo.rid, kind, name)).rowcount == 0:
                raise ApiError(404, f"Invalid rev id: {name}", "RevisionNotFound")

    # ----- commits ---------------------------------------------------------------------------------

    def files_at(self, commit: str) -> dict[str, FileEntry]:
        rows = self._db.query(
            "SELECT path, size, sha256, blob_id, lfs FROM files WHERE commit_sha = ? ORDER BY path", (commit,)
        )
        return {r[0]: FileEntry(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows}

    def get_commit(self, sha: str) -> CommitRecord:
        row = self._db.query_one(
            "SELECT sha, parent, title, message, author, created_at FROM commits WHERE sha = ?", (sha,)
        )
        if not row:
            raise ApiError(404, f"Invalid rev id: {sha}", "RevisionNotFound")
        return CommitRecord(*row)

    def history(self, sha: str) -> list[CommitRecord]:
        """The commit and its ancestors, newest first."""
        out = []
        current: str | None = sha
        while current:
            record = self.get_commit(current)
            out.append(record)
            current = record.parent
        return out

    def commit(
        self,
        repo: Repo,
        branch: str,
        operations: Iterable[Put | Delete],
        title: str,
        message: str,
        author: str,
        parent: str | None = None,
    ) -> str:
        """Apply `operations` on the head of `branch` as one new commit; 412 if `parent` is not the head."""
        with self._db.transaction() as db:
            head = self.branch_head(repo, branch)
            if parent is not None and parent != head:
                raise ApiError(412, f"parent commit {parent} is not the head of {branch} ({head}); pull and retry")
            files = self.files_at(head)
            for op in operations:
                if isinstance(op, Put):
                    files[op.entry.path] = op.entry
                elif op.folder:
                    prefix = op.path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(prefix)]
                    if not doomed:
                        raise ApiError(404, f"folder {op.path!r} does not exist at {branch}", "EntryNotFound")
                    for p in doomed:
                        del files[p]
                else:
                    if files.pop(op.path, None) is None:
                        raise ApiError(404, f"file {op.path!r} does not exist at {branch}", "EntryNotFound")
            sha = self._write_commit(db, repo.rid, head, files, title, message, author)
            name = branch[len("refs/heads/"):] if branch.startswith("refs/heads/") else branch
            db.execute("UPDATE refs SET target = ? WHERE rid = ? AND kind = 'branch' AND name = ?", (sha, repo.rid, name))
        return sha

    def _write_commit(
        self, db: sqlite3.Connection, rid: int, parent: str | None, files: dict[str, FileEntry], title: str,
        message: str, author: str,
    ) -> str:
        digest = hashlib.sha1(f"{rid}\n{parent}\n{author}\n{time.time_ns()}\n{uuid.uuid4()}\n{title}\n".encode())  # noqa: S324
        for entry in sorted(files.values(), key=lambda e: e.path):
            digest.update(f"{entry.path}\0{entry.size}\0{entry.sha256}\0{int(entry.lfs)}\n".encode())
        sha = digest.hexdigest()
        db.execute(
            "INSERT INTO commits (sha, rid, parent, title, message, author, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sha, rid, parent, title, message, author, now_iso()),
        )
        db.executemany(
            "INSERT INTO files (commit_sha, path, size, sha256, blob_id, lfs) VALUES (?, ?, ?, ?, ?, ?)",
            [(sha, e.path, e.size, e.sha256, e.blob_id, int(e.lfs)) for e in files.values()],
        )
        return sha


def _ref_candidates(revision: str) -> list[tuple[str, str]]:
    if revision.startswith("refs/heads/"):
        return [("branch", revision[len("refs/heads/"):])]
    if revision.startswith("refs/tags/"):
        return [("tag", revision[len("refs/tags/"):])]
    return [("branch", revision), ("tag", revision)]
