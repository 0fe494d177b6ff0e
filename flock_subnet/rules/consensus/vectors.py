"""Compare an epoch's outputs with a test vector's `expected` keys.

Key grammar (Yuma reference 3.6): `name`, `name[i]`, `name[a:b]`, `name[i][j]`, `name[i][a..b]`
(half-open), `name[i][*]`, `bonds_u16_col<C>_rows<A>to<B>` (inclusive), matrices given as sparse
pairs per row (whole rows), aliases (`combined_emission_rao`, `inactive`, `expected_permits_*`),
`normalised_stake_prefix`, and for generated networks `[v]`/`[s]`/`validator_uid0`/`first_server`
and group-wide scalars. Tolerances come from the assertion text (3.7).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flock_subnet.rules.consensus import fixed

ALIASES = {"combined_emission_rao": "emission_rao"}
_COL_ROWS = re.compile(r"^(\w+?)_col(\d+)_rows(\d+)to(\d+)$")
_INDEX = re.compile(r"\[([^\]]*)\]")


def tolerance(assertion: str) -> tuple[float, bool]:
    """(absolute tolerance, strict) for an assertion string; strict means `<` instead of `<=`."""
    text = assertion or ""
    m = re.search(r"eps\s*=\s*([0-9_.eE+-]+)", text) or re.search(r"epsilon\s*=\s*([0-9_.eE+-]+)", text)
    if m:
        return float(m.group(1).replace("_", "")), "close(" in text
    m = re.search(r"abs_tol\s*([0-9.eE+-]+)", text)
    if m:
        return float(m.group(1)), False
    return 0.0, False


def _f32(value: float) -> float:
    return fixed.to_float(fixed.from_f32(value))


def _dense_matrix(value: Any, n: int) -> list[list[float]] | None:
    """Expected matrix in sparse-pair form -> {row: dense row}; None if it is not one."""
    rows: dict[int, Any]
    if isinstance(value, Mapping):
        rows = {int(k): v for k, v in value.items()}
    elif isinstance(value, list) and value and all(isinstance(r, list) for r in value) and any(
        r and isinstance(r[0], list) for r in value
    ):
        rows = dict(enumerate(value))
    else:
        return None
    out = {}
    for i, row in rows.items():
        dense = [0] * n
        for j, v in row:
            dense[int(j)] = v
        out[i] = dense
    return out


class Checker:
    """Checks one step; collects failure messages."""

    def __init__(self, outputs: Mapping[str, Any], assertion: str = "", group: Mapping[str, list[int]] | None = None):
        self.out = outputs
        self.tol, self.strict = tolerance(assertion)
        self.i32f32 = "I32F32" in (assertion or "") and "exact equality" in (assertion or "")
        self.group = group or {}
        self.failures: list[str] = []

    def close(self, got: Any, want: Any) -> bool:
        if isinstance(want, bool) or isinstance(got, bool):
            return bool(got) == bool(want)
        if want is None:
            return True
        g, w = float(got), float(want)
        if self.i32f32:
            w = _f32(w)
        diff = abs(g - w)
        return diff < self.tol if self.strict else diff <= self.tol

    def compare(self, key: str, got: Any, want: Any) -> None:
        if isinstance(want, list):
            if not isinstance(got, list) or len(got) != len(want):
                self.failures.append(f"{key}: expected {want}, got {got}")
                return
            for k, (g, w) in enumerate(zip(got, want)):
                self.compare(f"{key}[{k}]", g, w)
            return
        if isinstance(got, list):  # a scalar applied to every element
            for k, g in enumerate(got):
                self.compare(f"{key}[{k}]", g, want)
            return
        if not self.close(got, want):
            self.failures.append(f"{key}: expected {want}, got {got}")

    def vector(self, name: str) -> Any:
        if name == "inactive":
            return [not a for a in self.out["active"]]
        if name.startswith("permits_epoch") or name == "permits":
            return self.out["new_validator_permits"]
        name = ALIASES.get(name, name)
        if name not in self.out:
            raise KeyError(name)
        return self.out[name]

    def check(self, key: str, want: Any) -> None:
        try:
            self._check(key, want)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            self.failures.append(f"{key}: cannot check ({type(exc).__name__}: {exc})")

    def _check(self, key: str, want: Any) -> None:
        if key in ("tol", "note") or key.startswith("as_written"):
            return
        if key.endswith("_prefix"):
            values = self.vector(key[: -len("_prefix")])
            self._prefix(key, values, str(want))
            return
        m = _COL_ROWS.match(key)
        if m:
            matrix = self.vector(m.group(1))
            col, a, b = int(m.group(2)), int(m.group(3)), int(m.group(4))
            self.compare(key, [matrix[i][col] for i in range(a, b + 1)], want)
            return
        name = key.split("[", 1)[0]
        got = self.vector(name)
        indices = _INDEX.findall(key[len(name):])
        if not indices:
            matrix = _dense_matrix(want, len(got)) if got and isinstance(got[0], list) else None
            if matrix is not None:
                for i, row in matrix.items():
                    self.compare(f"{name}[{i}]", got[i], row)
                return
            self.compare(key, got, want)
            return
        self._indexed(key, got, indices, want)

    def _select(self, values: Sequence[Any], index: str) -> tuple[list[int] | int | slice, bool]:
        index = index.strip()
        if index in ("v", "validators"):
            return list(self.group["validators"]), True
        if index in ("s", "servers"):
            return list(self.group["servers"]), True
        if index == "validator_uid0":
            return self.group["validators"][0], False
        if index == "first_server":
            return self.group["servers"][0], False
        if index == "*":
            return list(range(len(values))), True
        if ":" in index:
            a, b = index.split(":")
            return slice(int(a) if a else None, int(b) if b else None), False
        if ".." in index:
            a, b = index.split("..")
            end = int(b[1:]) + 1 if b.startswith("=") else int(b)
            return slice(int(a), end), False
        return int(index), False

    def _indexed(self, key: str, got: Any, indices: list[str], want: Any) -> None:
        first, many = self._select(got, indices[0])
        rest = indices[1:]
        if many:
            for i in first:
                if rest:
                    self._indexed(f"{key}@{i}", got[i], rest, want)
                else:
                    self.compare(f"{key}@{i}", got[i], want)
            return
        value = got[first]
        if rest:
            self._indexed(key, value, rest, want)
        else:
            self.compare(key, list(value) if isinstance(first, slice) else value, want)

    def _prefix(self, key: str, values: Sequence[float], text: str) -> None:
        body = text.lstrip("[")
        parts = [p.strip() for p in body.split(",")]
        for k, part in enumerate(parts):
            if not part:
                continue
            complete = k < len(parts) - 1 or text.rstrip().endswith("]")
            if complete:
                if not self.close(values[k], float(part.rstrip("]"))):
                    self.failures.append(f"{key}[{k}]: expected {part}, got {values[k]}")
            elif not repr(float(values[k])).startswith(part):
                self.failures.append(f"{key}[{k}]: expected a value starting {part!r}, got {values[k]!r}")


def check_step(outputs: Mapping[str, Any], expected: Mapping[str, Any], assertion: str = "", group=None) -> list[str]:
    """Failure messages for one step's expected values (empty = all match)."""
    if not expected or (assertion or "").startswith("none"):
        return []
    if group and set(expected) <= {"validators", "servers"}:
        failures = []
        for name, values in expected.items():
            uids = group[name]
            for key, want in values.items():
                failures += _group_check(outputs, key, want, assertion, group, uids)
        return failures
    checker = Checker(outputs, assertion, group)
    for key, want in expected.items():
        checker.check(key, want)
    return checker.failures


def _group_check(outputs, key, want, assertion, group, uids) -> list[str]:
    checker = Checker(outputs, assertion, group)
    if "[" in key or _COL_ROWS.match(key):
        checker.check(key, want)
        return checker.failures
    got = checker.vector(key)
    if isinstance(want, list) and len(want) == len(got):
        checker.compare(key, got, want)
    else:
        for uid in uids:
            checker.compare(f"{key}[{uid}]", got[uid], want)
    return checker.failures
