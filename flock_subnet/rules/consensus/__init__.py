"""Yuma Consensus and the emission split, as subtensor runs them, over plain Python data.

The epoch (`run_epoch`) turns one tempo's weights and stakes into incentive, dividends and rao
emissions, carrying bonds and validator permits in an `EpochState`. Two numeric modes:
`"exact"` emulates the chain's I32F32/I64F64/I96F32 fixed point to the last bit; `"float"`
uses float64 (fast exploration, u16/rao outputs may differ by one at floor boundaries).

The emission side (`split_block_emission`, `PendingEmission`, `distribute_epoch`) takes the
per-block owner cut / miner / validator / root split and, at the epoch, pays miners (burning
the subnet owner's own hotkeys' incentive), routes dividends through parents and children,
takes the validator's cut, and shares the rest pro-rata among everyone staked on it.

A local chain calls, once per tempo:

    result = run_epoch(EpochInput(block, stakes, weights, last_update, registered, rao_emission=E),
                       params, state)
    state = result.state                       # keep for the next epoch
    payout = distribute_epoch(pending, incentive_by_hotkey, dividends_by_hotkey, accounts)
    payout.earned(coldkey="D", hotkey="V")     # what delegator D earned through validator V
"""

from flock_subnet.rules.consensus.emission import (
    DEFAULT_DELEGATE_TAKE_U16,
    DEFAULT_OWNER_CUT_U16,
    BlockSplit,
    Credit,
    EpochPayout,
    PendingEmission,
    SubnetAccounts,
    block_emission_for_issuance,
    distribute_epoch,
    root_proportion,
    split_block_emission,
)
from flock_subnet.rules.consensus.errors import ConsensusInputError
from flock_subnet.rules.consensus.schema import (
    OUTPUT_KEYS,
    U16_MAX,
    EpochInput,
    EpochResult,
    EpochState,
    YumaParams,
)
from flock_subnet.rules.consensus.yuma import (
    clear_uid,
    max_upscale_u16,
    run_epoch,
    run_epochs,
)

__all__ = [
    "DEFAULT_DELEGATE_TAKE_U16",
    "DEFAULT_OWNER_CUT_U16",
    "OUTPUT_KEYS",
    "U16_MAX",
    "BlockSplit",
    "ConsensusInputError",
    "Credit",
    "EpochInput",
    "EpochPayout",
    "EpochResult",
    "EpochState",
    "PendingEmission",
    "SubnetAccounts",
    "YumaParams",
    "block_emission_for_issuance",
    "clear_uid",
    "distribute_epoch",
    "max_upscale_u16",
    "root_proportion",
    "run_epoch",
    "run_epochs",
    "split_block_emission",
]
