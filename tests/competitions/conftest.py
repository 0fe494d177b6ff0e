"""Operator competitions registered by a test are removed after it."""

from __future__ import annotations

import pytest

from flock_subnet.rules.competitions import COMPETITIONS


@pytest.fixture(autouse=True)
def _restore_registry(monkeypatch):
    monkeypatch.setattr(COMPETITIONS, "_items", dict(COMPETITIONS._items))
    monkeypatch.delenv("FLOCK_COMPETITIONS", raising=False)
