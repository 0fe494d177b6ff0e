"""The leaderboard on the local chain: what the local chain tells beyond the `Chain` port, and the
demo's own export (its chain, its first validator's state, its hub)."""

from __future__ import annotations

from pathlib import Path

from flock_subnet.kit.demo.run import NETUID, DemoRun
from flock_subnet.kit.localchain.chain import LocalChain
from flock_subnet.leaderboard.export import export_site
from flock_subnet.leaderboard.gather import BoardSource
from flock_subnet.leaderboard.sources import ChainExtras


def local_chain_extras(chain: LocalChain, netuid: int) -> ChainExtras:
    """Validator takes, own stakes, delegator counts and the epoch spacing (the local chain runs an
    epoch every `tempo` blocks)."""
    metagraph = chain.metagraph(netuid)
    owners = {n.hotkey: n.coldkey for n in metagraph.neurons}
    own: dict[str, int] = {}
    delegators: dict[str, int] = {}
    for hotkey, coldkey, amount in chain.stakes(netuid):
        if hotkey not in owners:
            continue
        if coldkey == owners[hotkey]:
            own[hotkey] = own.get(hotkey, 0) + amount
        elif amount > 0:
            delegators[hotkey] = delegators.get(hotkey, 0) + 1
    validators = [n.hotkey for n in metagraph.neurons if n.validator_permit or n.dividends > 0]
    return ChainExtras(
        takes={hotkey: chain.delegate_take(hotkey) for hotkey in validators},
        own_stakes={hotkey: own.get(hotkey, 0) for hotkey in validators},
        delegators={hotkey: delegators.get(hotkey, 0) for hotkey in validators},
        epoch_blocks=chain.hyperparameters(netuid).tempo,
    )


def export_demo_leaderboard(run: DemoRun, out_dir: str | Path | None = None) -> Path:
    """Export the leaderboard of a finished demo run (default `<workdir>/leaderboard`); returns index.html."""
    workdir = Path(run.config.workdir).resolve()
    first = next(a.name for a in run.actors if a.role == "validator")
    with LocalChain.open(workdir / "chain.db") as chain:
        source = BoardSource(
            chain=chain, netuid=NETUID, hub_url=run.hub_url, chain_label=f"the demo's local chain {workdir / 'chain.db'}",
            state_location=workdir / "validators" / first, extras=local_chain_extras(chain, NETUID),
        )
        board = source.gather()
    return export_site(board, Path(out_dir) if out_dir is not None else workdir / "leaderboard")
