"""Read and verify a safetensors file's header without trusting it, and scan tensors for NaN/inf.

A safetensors file is an 8-byte little-endian header length `N`, `N` bytes of JSON mapping each
tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the data
that follows the header), an optional `"__metadata__"` of strings, then the raw tensor bytes.

Everything here is parsed by hand under strict bounds, so a hostile file cannot make the reader
allocate, seek or compute more than its own size allows: the header length is capped and must fit
the file, duplicate JSON keys are refused, every dtype must be known, `prod(shape) * itemsize`
must equal each tensor's byte span, and the spans must tile the data region exactly (no gaps, no
overlaps, nothing past the end). Nothing is unpickled, nothing is imported from the file.

`scan_non_finite` reads tensor values through a read-only memory map in bounded chunks and checks
the IEEE exponent bits, so float32/float16/bfloat16 are all checked without converting them.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flock_subnet.errors import FlockError

MAX_HEADER_BYTES = 4 * 1024 * 1024  # real checkpoints need tens of KB; a few MB is generous
MAX_TENSORS = 100_000
MAX_RANK = 8
MAX_NAME_CHARS = 1024
_SCAN_CHUNK_BYTES = 16 * 1024 * 1024

# safetensors dtype code -> (bytes per element, numpy-style name used by competitions)
DTYPES: dict[str, tuple[int, str]] = {
    "BOOL": (1, "bool"),
    "U8": (1, "uint8"),
    "I8": (1, "int8"),
    "F8_E4M3": (1, "float8_e4m3fn"),
    "F8_E5M2": (1, "float8_e5m2"),
    "I16": (2, "int16"),
    "U16": (2, "uint16"),
    "F16": (2, "float16"),
    "BF16": (2, "bfloat16"),
    "I32": (4, "int32"),
    "U32": (4, "uint32"),
    "F32": (4, "float32"),
    "I64": (8, "int64"),
    "U64": (8, "uint64"),
    "F64": (8, "float64"),
}

# For each float dtype: (unsigned integer view, exponent mask). A value is NaN or +-inf exactly
# when all its exponent bits are set.
_EXPONENT_MASKS: dict[str, tuple[str, int]] = {
    "F16": ("<u2", 0x7C00),
    "BF16": ("<u2", 0x7F80),
    "F32": ("<u4", 0x7F800000),
    "F64": ("<u8", 0x7FF0000000000000),
}


class HeaderError(FlockError):
    """A safetensors file whose header is malformed, lying or too large; the message says which."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as declared by a verified header; `begin`/`end` are absolute file offsets."""

    name: str
    dtype: str  # safetensors code, e.g. "F32"
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype_name(self) -> str:
        return DTYPES[self.dtype][1]


@dataclass(frozen=True)
class SafetensorsHeader:
    """A verified header: the tensors in file order and the free-form metadata."""

    path: Path
    header_bytes: int
    file_size: int
    tensors: tuple[TensorInfo, ...]
    metadata: dict[str, str]

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise HeaderError(f"header repeats the key {key!r}")
        result[key] = value
    return result


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_header(path: str | Path, max_header_bytes: int = MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Parse and verify the header of the safetensors file at `path`; `HeaderError` says what is wrong."""
    path = Path(path)
    name = path.name
    file_size = os.stat(path, follow_symlinks=False).st_size
    if file_size < 8:
        raise HeaderError(f"{name}: {file_size} bytes is too short for a safetensors file (needs an 8-byte header length)")
    with open(path, "rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        if header_len > max_header_bytes:
            raise HeaderError(
                f"{name}: header claims {header_len} bytes, more than the {max_header_bytes}-byte limit; "
                "save the weights with safetensors' own writer"
            )
        if 8 + header_len > file_size:
            raise HeaderError(f"{name}: header claims {header_len} bytes but the file has only {file_size - 8} after the length")
        raw = handle.read(header_len)
    if len(raw) != header_len:
        raise HeaderError(f"{name}: file shrank while reading its header")
    try:
        text = raw.decode("utf-8")
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except HeaderError as exc:
        raise HeaderError(f"{name}: {exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise HeaderError(f"{name}: header is not valid UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(document, dict):
        raise HeaderError(f"{name}: header must be a JSON object, got {type(document).__name__}")

    metadata = document.pop("__metadata__", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise HeaderError(f"{name}: __metadata__ must map strings to strings")
    if len(document) > MAX_TENSORS:
        raise HeaderError(f"{name}: header declares {len(document)} tensors, more than {MAX_TENSORS}")

    data_start = 8 + header_len
    data_size = file_size - data_start
    tensors = [_parse_entry(name, key, entry) for key, entry in document.items()]
    tensors.sort(key=lambda t: (t[3], t[4]))
    position = 0
    verified: list[TensorInfo] = []
    for tensor_name, dtype, shape, begin, end in tensors:
        if begin != position:
            what = "overlaps the previous tensor" if begin < position else f"leaves a gap of {begin - position} bytes"
            raise HeaderError(f"{name}: tensor {tensor_name!r} starts at data offset {begin} and {what}")
        if end > data_size:
            raise HeaderError(
                f"{name}: tensor {tensor_name!r} ends at data offset {end}, past the {data_size} bytes of data in the file"
            )
        position = end
        verified.append(TensorInfo(tensor_name, dtype, shape, data_start + begin, data_start + end))
    if position != data_size:
        raise HeaderError(f"{name}: tensors cover {position} bytes of data but the file holds {data_size}")
    return SafetensorsHeader(path, header_len, file_size, tuple(verified), dict(metadata))


def _parse_entry(file_name: str, key: str, entry: object) -> tuple[str, str, tuple[int, ...], int, int]:
    if not key or len(key) > MAX_NAME_CHARS:
        raise HeaderError(f"{file_name}: tensor name must have 1-{MAX_NAME_CHARS} characters")
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise HeaderError(f"{file_name}: tensor {key!r} must be an object with exactly dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise HeaderError(f"{file_name}: tensor {key!r} has unknown dtype {str(dtype)[:32]!r}")
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(_is_int(d) and d >= 0 for d in shape):
        raise HeaderError(f"{file_name}: tensor {key!r} shape must be a list of at most {MAX_RANK} non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise HeaderError(f"{file_name}: tensor {key!r} data_offsets must be two integers 0 <= begin <= end")
    begin, end = offsets
    itemsize = DTYPES[dtype][0]
    expected = math.prod(shape) * itemsize
    if expected != end - begin:
        raise HeaderError(
            f"{file_name}: tensor {key!r} of shape {shape} and dtype {dtype} needs {expected} bytes "
            f"but its offsets span {end - begin}"
        )
    return key, dtype, tuple(shape), begin, end


def _chunks(tensor: TensorInfo) -> Iterator[tuple[int, int]]:
    """(absolute offset, element count) pieces of at most ~16 MB each."""
    itemsize = DTYPES[tensor.dtype][0]
    per_chunk = max(1, _SCAN_CHUNK_BYTES // itemsize)
    total = tensor.numel
    done = 0
    while done < total:
        count = min(per_chunk, total - done)
        yield tensor.begin + done * itemsize, count
        done += count


def scan_non_finite(header: SafetensorsHeader) -> list[str]:
    """Names of the float tensors in a verified file that hold any NaN or infinity.

    The file is memory-mapped read-only and read in bounded chunks, so memory stays flat whatever
    the model size. Integer tensors have no non-finite values and are skipped.
    """
    import numpy as np

    bad: list[str] = []
    if header.file_size == 0 or not any(t.numel for t in header.tensors):
        return bad
    mapped = np.memmap(header.path, dtype=np.uint8, mode="r")
    try:
        for tensor in header.tensors:
            mask_info = _EXPONENT_MASKS.get(tensor.dtype)
            if mask_info is None or tensor.numel == 0:
                continue
            view_dtype, mask = mask_info
            itemsize = DTYPES[tensor.dtype][0]
            for offset, count in _chunks(tensor):
                values = mapped[offset : offset + count * itemsize].view(view_dtype)
                if np.any((values & np.array(mask, dtype=view_dtype)) == mask):
                    bad.append(tensor.name)
                    break
    finally:
        del mapped
    return bad
