"""The consensus digest of a list of samples: `sha256:<hex>` of their canonical JSON.

Two validators that produce the same digest for a round hold byte-identical hidden samples;
a competition declares the digest of one fixed round so a validator can check its own
environment (library versions, pool file) before it scores anything.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from flock_subnet.rules.data.samples import ChatSample

PREFIX = "sha256:"


def samples_digest(samples: list[ChatSample]) -> str:
    """`sha256:<hex>` over the samples' `{"task", "messages"}` objects as compact, key-sorted JSON."""
    digest = hashlib.sha256()
    for sample in samples:
        line = json.dumps(sample.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest.update(line.encode("utf-8") + b"\n")
    return PREFIX + digest.hexdigest()


def sample_task_counts(samples: list[ChatSample]) -> dict[str, int]:
    """How many samples of each task, by task name."""
    return dict(sorted(Counter(sample.task for sample in samples).items()))
