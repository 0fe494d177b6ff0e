"""The local hub's SQLite store on real files: schema versions and atomic commits."""

from __future__ import annotations

import sqlite3

import pytest

from flock_subnet.kit.localhub.store import SCHEMA, Delete, HubStore
from flock_subnet.kit.localhub.wire import ApiError
from flock_subnet.sqlitedb import SchemaTooNew


def test_hub_file_from_before_versioned_schemas_still_opens(tmp_path):
    store = HubStore(tmp_path)
    store.set_tokens({"alice": "tok"})
    repo = store.create_repo("model", "alice", "m", private=True, author="alice")
    store.close()
    with sqlite3.connect(tmp_path / "hub.sqlite") as conn:  # older code never set a version
        conn.execute("PRAGMA user_version = 0")
    reopened = HubStore(tmp_path)
    assert reopened.user_for_token("tok") == "alice"
    assert reopened.get_repo("model", "alice", "m") == repo
    reopened.close()
    with sqlite3.connect(tmp_path / "hub.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA.version


def test_hub_file_from_a_newer_version_is_refused(tmp_path):
    HubStore(tmp_path).close()
    with sqlite3.connect(tmp_path / "hub.sqlite") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA.version + 1}")
    with pytest.raises(SchemaTooNew, match="upgrade flock-subnet"):
        HubStore(tmp_path)


def test_a_refused_commit_changes_nothing(tmp_path):
    store = HubStore(tmp_path)
    repo = store.create_repo("model", "alice", "m", private=False, author="alice")
    head = store.branch_head(repo, "main")
    with pytest.raises(ApiError) as caught:
        store.commit(repo, "main", [Delete(".gitattributes"), Delete("missing.txt")], "t", "", "alice")
    assert caught.value.status == 404
    assert store.branch_head(repo, "main") == head
    assert list(store.files_at(head)) == [".gitattributes"]
    assert [c.sha for c in store.history(head)] == [head]
    store.close()
