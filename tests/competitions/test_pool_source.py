"""A task creator's private pool as a task source: sampled by seed, mixed, digest-checked."""

from __future__ import annotations

from dataclasses import replace

from flock_subnet.evaluation.samples import round_digest, round_samples, write_chat_file
from flock_subnet.rules.competitions import QWEN_05B, DeclaredDigest
from flock_subnet.rules.data import ChatSample
from flock_subnet.validator.data_check import DigestStatus, check_data_digest


def _pool(n: int, salt: str = "") -> list[ChatSample]:
    return [
        ChatSample("extraction", [{"role": "user", "content": f"Invoice {i}{salt}: total?"},
                                  {"role": "assistant", "content": str(100 + i)}])  # fmt: skip
        for i in range(n)
    ]


def test_a_private_pool_mixes_with_generators_and_is_digest_checked(tmp_path):
    pool_file = write_chat_file(tmp_path / "pool.jsonl", _pool(40))
    competition = replace(QWEN_05B, id="pooled", tasks={"pool": 3.0, "gcd": 1.0}, public_pool=str(pool_file),
                          data_digest=None)  # fmt: skip
    first = round_samples(competition, 5, 16)
    assert sum(s.task == "extraction" for s in first) == 12 and sum(s.task == "gcd" for s in first) == 4
    assert round_samples(competition, 5, 16) == first
    assert round_samples(competition, 6, 16) != first
    declared = replace(competition, data_digest=DeclaredDigest(5, 16, round_digest(competition, 5, 16)))
    assert check_data_digest(declared).status is DigestStatus.MATCH
    write_chat_file(pool_file, _pool(40, salt="!"))  # a validator holding another pool file
    check = check_data_digest(declared)
    assert check.status is DigestStatus.MISMATCH and str(pool_file) in check.reason
