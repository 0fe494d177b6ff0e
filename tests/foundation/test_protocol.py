"""The on-chain commitment format: round-trip, budget, and refusal of anything malformed."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flock_subnet.rules import protocol
from flock_subnet.rules.protocol import ModelReference, ProtocolError, decode, encode, max_repo_id_length

REV = "0123456789abcdef0123456789abcdef01234567"
HASH = "f" * 64

_name_chars = string.ascii_letters + string.digits
repo_part = st.builds(
    lambda head, middle, tail: head + middle + tail,
    st.sampled_from(_name_chars),
    st.text(alphabet=_name_chars + "_", max_size=10),
    st.sampled_from(_name_chars),
)
competition_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,7}", fullmatch=True)
hex40 = st.binary(min_size=20, max_size=20).map(bytes.hex)
hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)


@settings(max_examples=300, deadline=None)
@given(namespace=repo_part, name=repo_part, revision=hex40, salted=hex64, competition=competition_ids)
def test_encode_decode_round_trip(namespace, name, revision, salted, competition):
    reference = ModelReference(f"{namespace}/{name}", revision, salted, competition)
    text = encode(reference)
    assert len(text.encode()) <= protocol.MAX_COMMITMENT_BYTES
    assert decode(text) == reference
    assert decode(text.encode()) == reference


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_decode_garbage_raises_only_protocol_error(garbage):
    try:
        decode(garbage)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0, max_value=200), char=st.characters())
def test_decode_mutated_commitment_never_escapes_as_other_error(position, char):
    text = encode(ModelReference("alice/model", REV, HASH, "local"))
    i = position % len(text)
    mutated = text[:i] + char + text[i + 1 :]
    try:
        result = decode(mutated)
    except ProtocolError:
        return
    # a mutation that still decodes must describe a valid reference that re-encodes to itself
    assert encode(result) == mutated


def test_commitment_is_compact_and_versioned():
    text = encode(ModelReference("alice/model", REV, HASH, "local"))
    assert text.startswith("f1:local:alice/model:")
    assert len(text) == 3 + 6 + 12 + 28 + 43


def test_repo_id_budget_message_says_how_many_characters_are_left():
    budget = max_repo_id_length("local")
    assert budget == 47
    fits = ModelReference("a/" + "b" * (budget - 2), REV, HASH, "local")
    assert len(encode(fits)) == protocol.MAX_COMMITMENT_BYTES
    too_long = ModelReference("a/" + "b" * (budget + 2), REV, HASH, "local")
    with pytest.raises(ProtocolError, match=r"leaves 47 .* 4 characters shorter"):
        encode(too_long)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("f2:local:a/b:x:y", "unknown commitment format"),
        ("f1:local:a/b", "5 ':'-separated fields"),
        ("f1:LOCAL:a/b:" + "A" * 27 + ":" + "A" * 43, "competition id"),
        ("f1:local:ab:" + "A" * 27 + ":" + "A" * 43, "namespace/name"),
        ("f1:local:a/../b:" + "A" * 27 + ":" + "A" * 43, "namespace/name"),
        ("f1:local:a/b:" + "A" * 26 + ":" + "A" * 43, "revision"),
        ("f1:local:a/b:" + "A" * 27 + ":" + "A" * 42 + "=", "salted hash"),
        ("f1:local:a/b:" + "A" * 27 + ":" + "A" * 43 + "x" * 60, "more than 128"),
        ("f1:local:a/b:" + "+" * 27 + ":" + "A" * 43, "revision is not base64url"),
        ("f1:local:a/ü:" + "A" * 27 + ":" + "A" * 43, "ASCII"),
        ("{\"repo\": \"a/b\"}", "unknown commitment format"),
    ],
)
def test_decode_rejects_malformed_with_precise_error(text, fragment):
    with pytest.raises(ProtocolError, match=fragment):
        decode(text)


def test_decode_rejects_non_canonical_base64():
    good = encode(ModelReference("a/b", REV, HASH, "local"))
    fields = good.split(":")
    # the last base64 character carries unused bits; flipping them must not alias another value
    last = fields[3][-1]
    alias = {"A": "B", "E": "F"}.get(last, "B")
    fields[3] = fields[3][:-1] + alias
    with pytest.raises(ProtocolError):
        decode(":".join(fields))


def test_decode_rejects_wrong_types():
    with pytest.raises(ProtocolError, match="text or bytes"):
        decode(12345)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="ASCII"):
        decode(b"\xff\xfe")


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("revision", "main", "40-character"),
        ("revision", REV.upper(), "40-character"),
        ("salted_hash", "abc", "64 lowercase hex"),
        ("competition_id", "", "competition id"),
        ("competition_id", "x" * 17, "competition id"),
        ("repo_id", "no-namespace", "namespace/name"),
        ("repo_id", "a/b.git", ".git"),
        ("repo_id", "a/b--c", "not a valid"),
    ],
)
def test_reference_validates_fields(field, value, fragment):
    fields = dict(repo_id="a/b", revision=REV, salted_hash=HASH, competition_id="local")
    fields[field] = value
    with pytest.raises(ProtocolError, match=fragment):
        ModelReference(**fields)
