"""The hand-written safetensors header reader: strict bounds, lying headers refused, NaN/inf scan."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from safetensors.numpy import save_file

from flock_subnet.evaluation.safetensors_header import (
    MAX_HEADER_BYTES,
    HeaderError,
    read_header,
    scan_non_finite,
)
from tests.evaluation.adversarial.builders import raw_safetensors


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def test_reads_what_the_safetensors_library_writes(tmp_path):
    tensors = {
        "b": np.arange(6, dtype=np.float32).reshape(2, 3),
        "a": np.ones((4,), dtype=np.float16),
        "empty": np.zeros((0, 5), dtype=np.float32),
    }
    save_file(tensors, str(tmp_path / "m.safetensors"), metadata={"format": "pt"})
    header = read_header(tmp_path / "m.safetensors")
    shapes = {t.name: (t.dtype, t.shape) for t in header.tensors}
    assert shapes == {"a": ("F16", (4,)), "b": ("F32", (2, 3)), "empty": ("F32", (0, 5))}
    assert header.parameters == 10
    assert header.metadata == {"format": "pt"}
    assert scan_non_finite(header) == []
    # absolute offsets point at the real bytes
    b = next(t for t in header.tensors if t.name == "b")
    raw = (tmp_path / "m.safetensors").read_bytes()[b.begin : b.end]
    assert np.frombuffer(raw, dtype="<f4").tolist() == list(range(6))


@pytest.mark.parametrize(
    "header,data,message",
    [
        # a header that claims terabytes of weights in a 16-byte file
        ({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 4 << 40]}}, b"\0" * 16, "past the"),
        # offsets past the end of the file (consistent shape, lying position)
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}}, b"\0" * 16, "gap"),
        ({"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}, b"\0" * 16, "past the"),
        # shape x dtype does not match the byte span
        ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16, "needs 12 bytes"),
        # overlapping tensors
        (
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
            },
            b"\0" * 16,
            "overlaps",
        ),
        # trailing bytes nobody declared
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 16, "cover 8 bytes"),
        ({"w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, b"\0" * 16, "unknown dtype"),
        ({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16, "non-negative"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}, b"\0" * 16, "begin <= end"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16], "x": 1}}, b"\0" * 16, "exactly"),
        ({"w": [1, 2]}, b"", "exactly"),
        ({"__metadata__": {"k": 1}}, b"", "__metadata__"),
    ],
)
def test_lying_headers_are_refused(tmp_path, header, data, message):
    path = _write(tmp_path / "bad.safetensors", raw_safetensors(header, data))
    with pytest.raises(HeaderError, match=message):
        read_header(path)


def test_header_length_is_bounded_by_the_limit_and_the_file(tmp_path):
    huge = _write(tmp_path / "huge.safetensors", struct.pack("<Q", 1 << 50) + b"{}")
    with pytest.raises(HeaderError, match="limit"):
        read_header(huge)
    just_over = _write(tmp_path / "over.safetensors", struct.pack("<Q", MAX_HEADER_BYTES + 1) + b"{}")
    with pytest.raises(HeaderError, match="limit"):
        read_header(just_over)
    past_file = _write(tmp_path / "past.safetensors", struct.pack("<Q", 100) + b"{}")
    with pytest.raises(HeaderError, match="only 2"):
        read_header(past_file)
    tiny = _write(tmp_path / "tiny.safetensors", b"\1\0")
    with pytest.raises(HeaderError, match="too short"):
        read_header(tiny)


def test_malformed_json_and_duplicate_keys_are_refused(tmp_path):
    for name, body in {
        "not-json": b"{not json",
        "not-utf8": b"{\"\xff\": 1}",
        "array": b"[1, 2, 3]",
        "nested": b"[" * 100_000 + b"]" * 100_000,
    }.items():
        path = _write(tmp_path / f"{name}.safetensors", struct.pack("<Q", len(body)) + body)
        with pytest.raises(HeaderError):
            read_header(path)
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    body = ('{"w": ' + entry + ', "w": ' + entry + "}").encode()
    path = _write(tmp_path / "dup.safetensors", struct.pack("<Q", len(body)) + body + b"\0" * 4)
    with pytest.raises(HeaderError, match="repeats the key 'w'"):
        read_header(path)


def _bits(value: float, dtype: str) -> np.ndarray:
    if dtype == "BF16":
        return (np.array([value], dtype="<f4").view("<u4") >> 16).astype("<u2")
    return np.array([value], dtype={"F16": "<f2", "F32": "<f4", "F64": "<f8"}[dtype])


@pytest.mark.parametrize("dtype", ["F16", "BF16", "F32", "F64"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_found_in_every_float_dtype(tmp_path, dtype, bad):
    good = np.concatenate([_bits(v, dtype) for v in (0.0, -1.5, 3.0, 65504.0 if dtype == "F16" else 1e30)])
    poisoned = np.concatenate([good, _bits(bad, dtype), good])
    size = good.dtype.itemsize
    header = {
        "fine": {"dtype": dtype, "shape": [len(good)], "data_offsets": [0, len(good) * size]},
        "poisoned": {
            "dtype": dtype,
            "shape": [len(poisoned)],
            "data_offsets": [len(good) * size, (len(good) + len(poisoned)) * size],
        },
    }
    path = _write(tmp_path / "w.safetensors", raw_safetensors(header, good.tobytes() + poisoned.tobytes()))
    assert scan_non_finite(read_header(path)) == ["poisoned"]


def test_scan_reads_large_tensors_in_chunks(tmp_path):
    values = np.zeros(5_000_000, dtype=np.float32)  # 20 MB: more than one scan chunk
    values[-1] = np.nan
    save_file({"w": values}, str(tmp_path / "w.safetensors"))
    assert scan_non_finite(read_header(tmp_path / "w.safetensors")) == ["w"]
