"""The epoch entry points: check inputs, pick the numeric mode, carry state between epochs.

`run_epoch` is what the chain runs once per tempo (`epoch_mechanism`, the sparse production
path). The arithmetic lives in `exact.py` (integer fixed-point emulation, the default) and
`floating.py` (float64); both follow the steps listed in `exact.py` from the same masked
inputs built by `prepare.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flock_subnet.rules.consensus.errors import ConsensusInputError
from flock_subnet.rules.consensus.prepare import prepare
from flock_subnet.rules.consensus.schema import EpochInput, EpochResult, EpochState, YumaParams

MODES = ("exact", "float")
VARIANTS = ("sparse", "dense")


def run_epoch(
    inputs: EpochInput,
    params: YumaParams | None = None,
    state: EpochState | None = None,
    *,
    mode: str = "exact",
    variant: str = "sparse",
) -> EpochResult:
    """Run one Yuma Consensus epoch and return per-uid results plus the state for the next one.

    `state` (bonds as stored u16, validator permits, last step block) is not modified;
    `result.state` holds the new bonds and permits and `last_step_block = inputs.block`.
    `variant="dense"` runs the chain's test-only `epoch_dense` semantics instead of the
    production sparse epoch (differences in the reference, 1.5).
    """
    params = params or YumaParams()
    state = state or EpochState()
    if variant not in VARIANTS:
        raise ConsensusInputError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    prepared = prepare(inputs, params, state, dense=variant == "dense")
    if mode == "exact":
        from flock_subnet.rules.consensus.exact import epoch
    elif mode == "float":
        from flock_subnet.rules.consensus.floating import epoch
    else:
        raise ConsensusInputError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    return epoch(prepared)


def run_epochs(
    epochs: Iterable[EpochInput],
    params: YumaParams | None = None,
    state: EpochState | None = None,
    *,
    mode: str = "exact",
    variant: str = "sparse",
) -> list[EpochResult]:
    """Run several epochs in order, carrying the state from each to the next."""
    results = []
    for inputs in epochs:
        result = run_epoch(inputs, params, state, mode=mode, variant=variant)
        state = result.state
        results.append(result)
    return results


def clear_uid(weights: dict[int, list[tuple[int, int]]], state: EpochState, uid: int) -> None:
    """Apply a uid's replacement (deregistration + new registration) to weights and state, in place.

    The uid's own weight and bond rows are removed, every other row's weight on it becomes an
    explicit zero entry, and it loses its validator permit. (The caller sets its registration
    block and last update to the replacement block, and its new stake.)
    """
    weights.pop(uid, None)
    state.bonds.pop(uid, None)
    for row_uid, row in list(weights.items()):
        if any(j == uid for j, _ in row):
            weights[row_uid] = [(j, 0 if j == uid else w) for j, w in row]
    if uid < len(state.validator_permits):
        state.validator_permits[uid] = False


def max_upscale_u16(values: Sequence[int]) -> list[int]:
    """`set_weights`' storage form: scale a u16 row so its maximum becomes 65535.

    Computed in I64F64 like the chain (rounding half away from zero), e.g. [43690, 21845] ->
    [65535, 32768]. An all-zero or empty row is returned unchanged.
    """
    row = [int(v) for v in values]
    if any(not 0 <= v <= 65_535 for v in row):
        raise ConsensusInputError("weights must be u16 integers (0..65535) before upscaling")
    if not row or max(row) == 0:
        return row
    top = max(row)
    half = 1 << 63
    if top > 32_768:
        ratio = (65_535 << 64) // top
        scaled = [(v * ratio + half) >> 64 for v in row]
    else:
        scaled = [(((v * 65_535) << 64) // top + half) >> 64 for v in row]
    return [min(65_535, s) for s in scaled]
