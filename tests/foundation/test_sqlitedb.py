"""The SQLite helper every store uses: opening, transactions and their nesting, schema versions."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from flock_subnet.sqlitedb import (
    CannotOpen,
    Database,
    DatabaseBusy,
    DatabaseError,
    Schema,
    SchemaTooNew,
    run_script,
)


def _items_v1(conn: sqlite3.Connection) -> None:
    run_script(conn, "CREATE TABLE items (name TEXT PRIMARY KEY, n INTEGER NOT NULL); CREATE TABLE log (step INTEGER)")
    conn.execute("INSERT INTO log VALUES (1)")


def _items_v2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    conn.execute("INSERT INTO log VALUES (2)")


V1 = Schema(name="test store", steps=(_items_v1,), fresh_start="use another folder")
V2 = Schema(name="test store", steps=(_items_v1, _items_v2), fresh_start="use another folder")


@pytest.fixture
def db(tmp_path):
    database = Database.open(tmp_path / "store.db", V2)
    yield database
    database.close()


def names(db: Database) -> list[str]:
    return [row["name"] for row in db.query("SELECT name FROM items ORDER BY name")]


def add(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("INSERT INTO items (name, n) VALUES (?, 1)", (name,))


def test_open_sets_wal_busy_timeout_rows_by_name_and_foreign_keys(tmp_path):
    database = Database.open(tmp_path / "a.db", V1, busy_timeout_s=2.5, foreign_keys=True)
    try:
        assert database.query_one("PRAGMA journal_mode")[0].lower() == "wal"
        assert database.query_one("PRAGMA busy_timeout")[0] == 2500
        assert database.query_one("PRAGMA foreign_keys")[0] == 1
        assert database.query_one("SELECT 7 AS seven")["seven"] == 7
    finally:
        database.close()
    other = Database.open(tmp_path / "a.db", V1)
    assert other.query_one("PRAGMA foreign_keys")[0] == 0
    other.close()


def test_transaction_commits_at_the_end_of_the_block(db, tmp_path):
    with db.transaction() as conn:
        add(conn, "a")
        with sqlite3.connect(tmp_path / "store.db") as reader:  # another connection sees nothing yet
            assert reader.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    assert names(db) == ["a"]


def test_transaction_rolls_back_when_the_block_raises(db):
    with pytest.raises(RuntimeError):
        with db.transaction() as conn:
            add(conn, "a")
            raise RuntimeError("crash")
    assert names(db) == []
    with db.transaction() as conn:  # the connection is usable afterwards
        add(conn, "b")
    assert names(db) == ["b"]


def test_nested_transaction_that_fails_undoes_only_itself(db):
    with db.transaction() as conn:
        add(conn, "outer")
        with pytest.raises(ValueError):
            with db.transaction() as inner:
                add(inner, "inner")
                raise ValueError("inner fails")
        add(conn, "after")
    assert names(db) == ["after", "outer"]


def test_nested_transaction_is_durable_only_when_the_outer_commits(db):
    with pytest.raises(RuntimeError):
        with db.transaction() as conn:
            with db.transaction() as inner:
                add(inner, "inner")
            assert names(db) == ["inner"]  # visible inside the outer transaction
            raise RuntimeError("outer fails")
    assert names(db) == []


def test_error_inside_a_nested_block_that_propagates_rolls_back_everything(db):
    with pytest.raises(KeyError):
        with db.transaction() as conn:
            add(conn, "outer")
            with db.transaction() as inner:
                add(inner, "inner")
                raise KeyError("x")
    assert names(db) == []


def test_read_inside_a_transaction_sees_it_and_write_inside_read_is_refused(db):
    with db.transaction() as conn:
        add(conn, "a")
        with db.read() as snapshot:
            assert snapshot.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 1
    with db.read():
        with pytest.raises(DatabaseError, match="open the write first"):
            with db.transaction():
                pass
    assert names(db) == ["a"]


def test_threads_share_one_database(db):
    def worker(i: int) -> None:
        for j in range(20):
            with db.transaction() as conn:
                add(conn, f"{i}-{j}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(names(db)) == 80


def test_fresh_file_runs_every_step_once(db, tmp_path):
    assert db.version == 2
    assert [row[0] for row in db.query("SELECT step FROM log ORDER BY step")] == [1, 2]
    db.close()
    again = Database.open(tmp_path / "store.db", V2)
    assert again.migrate() == 0
    assert [row[0] for row in again.query("SELECT step FROM log ORDER BY step")] == [1, 2]
    again.close()


def test_old_file_runs_only_the_missing_steps_and_keeps_its_data(tmp_path):
    old = Database.open(tmp_path / "old.db", V1)
    with old.transaction() as conn:
        add(conn, "kept")
    old.close()
    upgraded = Database.open(tmp_path / "old.db", V2)
    assert upgraded.version == 2
    assert [row[0] for row in upgraded.query("SELECT step FROM log ORDER BY step")] == [1, 2]
    assert [tuple(row) for row in upgraded.query("SELECT name, note FROM items")] == [("kept", "")]
    upgraded.close()


def test_several_connections_opening_an_old_file_at_once_migrate_it_once(tmp_path):
    path = tmp_path / "shared.db"
    Database.open(path, V1).close()
    errors: list[Exception] = []

    def opener() -> None:
        try:
            Database.open(path, V2).close()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sqlite3.connect(path) as conn:
        assert [row[0] for row in conn.execute("SELECT step FROM log ORDER BY step")] == [1, 2]


def test_a_failing_step_leaves_the_file_at_its_last_version(tmp_path):
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("step 2 is broken")

    path = tmp_path / "broken.db"
    Database.open(path, V1).close()
    with pytest.raises(RuntimeError, match="broken"):
        Database.open(path, Schema("test store", (_items_v1, broken), "use another folder"))
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0


def test_file_from_a_newer_version_is_refused_with_what_to_do(tmp_path):
    Database.open(tmp_path / "new.db", V2).close()
    with pytest.raises(SchemaTooNew) as caught:
        Database.open(tmp_path / "new.db", V1)
    message = str(caught.value)
    assert "test store schema 2" in message and "knows up to 1" in message
    assert "upgrade flock-subnet" in message and "use another folder" in message


def test_not_a_database_is_refused_with_what_to_do(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(CannotOpen, match="move the file away"):
        Database.open(junk, V1)


def test_a_writer_holding_the_lock_past_the_timeout_is_reported_busy(tmp_path):
    path = tmp_path / "busy.db"
    Database.open(path, V1).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        waiting = Database.open(path, V1, busy_timeout_s=0.1)
        with pytest.raises(DatabaseBusy, match="locked by another process"):
            with waiting.transaction():
                pass
        waiting.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_lock_held_by_another_connection_is_recognised_by_its_code(tmp_path):
    import sqlite3

    from flock_subnet.sqlitedb import is_locked

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0.05)
    try:
        other.execute("SELECT * FROM t")
    except sqlite3.OperationalError as exc:
        assert is_locked(exc)
    else:
        raise AssertionError("the second connection read through an exclusive lock")
    finally:
        other.close()
        holder.close()
    assert not is_locked(sqlite3.OperationalError("no such table: t"))
