"""The epoch entry points: validate inputs, pick the numeric mode, carry state between epochs.

`run_epoch` is what the chain runs once per tempo (`epoch_mechanism`, the sparse production
path). The arithmetic lives in `exact.py` (integer fixed-point emulation) and `floating.py`
(float64); both follow the same steps, listed in `exact.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from flock_subnet.consensus.errors import ConsensusInputError
from flock_subnet.consensus.schema import EpochInput, EpochResult, EpochState, SparseRows, YumaParams

MODES = ("exact", "float")


def run_epoch(
    inputs: EpochInput,
    params: YumaParams | None = None,
    state: EpochState | None = None,
    *,
    mode: str = "exact",
) -> EpochResult:
    """Run one Yuma Consensus epoch and return per-uid results plus the state for the next one.

    `state` (bonds as stored u16, validator permits, last step block) is not modified;
    `result.state` holds the new bonds and permits and `last_step_block = inputs.block`.
    """
    raise NotImplementedError


def run_epochs(
    epochs: Iterable[EpochInput],
    params: YumaParams | None = None,
    state: EpochState | None = None,
    *,
    mode: str = "exact",
) -> list[EpochResult]:
    """Run several epochs in order, carrying the state from each to the next."""
    raise NotImplementedError


def clear_uid(weights: dict[int, list[tuple[int, int]]], state: EpochState, uid: int) -> None:
    """Apply a uid's replacement (deregistration + new registration) to weights and state, in place.

    The uid's own weight and bond rows are removed, every other row's weight on it becomes an
    explicit zero entry, and it loses its validator permit. (The caller sets its registration
    block and last update to the replacement block.)
    """
    raise NotImplementedError


def max_upscale_u16(values: Sequence[int]) -> list[int]:
    """`set_weights`' storage form: scale a u16 row so its maximum becomes 65535 (rounded)."""
    raise NotImplementedError
