"""`flock-subnet localnet ...`: create and operate the local chain from the command line.

Every sub-command takes the chain through the standard chain flags (`--subtensor.chain_endpoint
file:///path/chain.db`, or `--subtensor.network embedded --localchain.path PATH`; with neither,
the embedded network at the default path) and wallets through the standard wallet flags.
Amounts are given in TAO (`--amount`) or rao (`--amount-rao`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from flock_subnet.config import (
    EMBEDDED_NETWORK,
    ChainSettings,
    Settings,
    add_chain_args,
    add_logging_args,
    add_netuid_arg,
    add_wallet_args,
    settings_from_args,
)
from flock_subnet.errors import FlockError

RAO_PER_TAO = 1_000_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("localnet", help="create and operate the local chain (wallets, stake, blocks)")
    sub = parser.add_subparsers(title="localnet commands", metavar="ACTION", required=True)

    def command(name: str, help_text: str, handler: Any, *, wallet: bool = True, netuid: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_chain_args(p)
        if netuid:
            add_netuid_arg(p)
        if wallet:
            add_wallet_args(p)
        add_logging_args(p)
        p.add_argument("--json", action="store_true", help="print JSON only on stdout")
        p.set_defaults(handler=handler)
        return p

    init = command("init", "create the chain file, an owner wallet and a subnet", _init)
    clock = init.add_mutually_exclusive_group()
    clock.add_argument("--manual", action="store_true", help="manual clock: blocks move only with `localnet advance`")
    clock.add_argument("--block-time", type=float, default=None, help="seconds per block for a wall clock (default 12)")
    init.add_argument("--tempo", type=int, default=None, help="blocks per epoch (default 360)")
    init.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                      help="another hyperparameter, e.g. --set weights_rate_limit=10 (repeatable)")
    init.add_argument("--owner-funds", type=float, default=1000.0, help="TAO given to the owner coldkey (default 1000)")

    command("wallet", "create a wallet (coldkey + hotkey) without prompts; reuses existing keys", _wallet,
            netuid=False)

    fund = command("fund", "give TAO to a coldkey from the local faucet", _fund, netuid=False)
    fund.add_argument("--ss58", default=None, help="coldkey address (default: the wallet's coldkey)")
    _amount_args(fund, required=True)

    reg = command("register", "burned registration of the wallet's hotkey", _register)
    reg.add_argument("--fund", type=float, default=0.0, help="first give the coldkey this many TAO from the faucet")

    stake = command("stake", "stake from the wallet's coldkey (on its own hotkey unless --hotkey)", _stake)
    stake.add_argument("--hotkey", default=None, help="hotkey ss58 to stake on (default: the wallet's hotkey)")
    stake.add_argument("--remove", action="store_true", help="unstake instead")
    _amount_args(stake, required=True)

    delegate = command("delegate", "stake from the wallet's coldkey on a validator's hotkey (nominate)", _stake)
    delegate.add_argument("--hotkey", required=True, help="the validator hotkey ss58")
    delegate.add_argument("--remove", action="store_true", help="undelegate instead")
    _amount_args(delegate, required=True)

    root = command("root-stake", "stake TAO on the root network on a hotkey (weighs tao_weight on its subnets)",
                   _root_stake, netuid=False)
    root.add_argument("--hotkey", default=None, help="hotkey ss58 to stake on (default: the wallet's hotkey)")
    root.add_argument("--remove", action="store_true", help="unstake from root instead")
    _amount_args(root, required=True)
    command("claim-root", "claim the wallet's root dividends on the subnet (swapped to TAO, staked on root)",
            _claim_root)

    status = command("status", "the subnet's metagraph: stake, permits, incentive, dividends, commitments", _status)
    status.add_argument("--epochs", type=int, default=0, help="also show the payouts of the last N epochs")

    advance = command("advance", "manual clock: move N blocks forward (running epochs on the way)", _advance,
                      netuid=False)
    advance.add_argument("blocks", type=int, help="how many blocks")

    hyper = command("hyperparameters", "show the subnet's hyperparameters, or set some as the owner", _hyperparameters)
    hyper.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                       help="set a hyperparameter (signed by the owner wallet; repeatable)")


def _amount_args(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--amount", type=float, help="amount in TAO")
    group.add_argument("--amount-rao", type=int, help="amount in rao")


def _amount(args: argparse.Namespace) -> int:
    if getattr(args, "amount_rao", None) is not None:
        return int(args.amount_rao)
    return int(round(float(args.amount) * RAO_PER_TAO))


def _chain_settings(args: argparse.Namespace, settings: Settings) -> ChainSettings:
    if settings.chain.is_local_chain:
        return settings.chain
    if getattr(args, "subtensor_network", None) or getattr(args, "subtensor_chain_endpoint", None):
        raise FlockError(
            "localnet commands work on the local chain only; pass --subtensor.network embedded "
            "[--localchain.path PATH] or --subtensor.chain_endpoint file:///path/chain.db"
        )
    return ChainSettings(network=EMBEDDED_NETWORK, localchain_path=settings.chain.localchain_path)


def _open(args: argparse.Namespace, clock: Any = None) -> tuple[Any, Settings]:
    from flock_subnet.kit.localchain.chain import LocalChain

    settings = settings_from_args(args)
    chain_settings = _chain_settings(args, settings)
    return LocalChain.open(chain_settings.local_chain_file, clock=clock), settings


def _wallet_of(settings: Settings, create: bool = False) -> Any:
    from flock_subnet.chain.wallets import create_wallet, load_wallet

    w = settings.wallet
    return create_wallet(w.name, w.hotkey, path=w.expanded_path) if create else load_wallet(w)


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(data, sort_keys=True))
    else:
        _console().print(text)


def _parse_overrides(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise FlockError(f"--set takes NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _init(args: argparse.Namespace) -> int:
    from flock_subnet.kit.localchain.chain import ManualClock, WallClock

    settings = settings_from_args(args)
    path = _chain_settings(args, settings).local_chain_file
    if path.exists() and path.stat().st_size > 0:
        raise FlockError(f"a local chain already exists at {path}; remove it or pick another --localchain.path")
    clock = ManualClock() if args.manual else WallClock(block_time=args.block_time or 12.0)
    chain, _ = _open(args, clock=clock)
    owner = _wallet_of(settings, create=True)
    overrides: dict[str, Any] = _parse_overrides(args.overrides)
    if args.tempo is not None:
        overrides["tempo"] = args.tempo
    with chain:
        if args.owner_funds > 0:
            chain.fund(owner.coldkeypub.ss58_address, int(round(args.owner_funds * RAO_PER_TAO)))
        netuid = chain.create_subnet(owner, settings.netuid, **overrides)
        data = {
            "path": str(path),
            "netuid": netuid,
            "clock": chain.clock_kind,
            "block_time": chain.block_time,
            "owner_coldkey": owner.coldkeypub.ss58_address,
            "owner_hotkey": owner.hotkey.ss58_address,
            "tempo": chain.hyperparameters(netuid).tempo,
        }
    _emit(args, data, f"local chain [bold]{path}[/] ({data['clock']} clock): subnet {netuid} owned by "
          f"{settings.wallet.name} ({data['owner_coldkey']}), tempo {data['tempo']}")
    return 0


def _wallet(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    wallet = _wallet_of(settings, create=True)
    data = {
        "name": settings.wallet.name,
        "hotkey_name": settings.wallet.hotkey,
        "path": str(settings.wallet.expanded_path),
        "coldkey": wallet.coldkeypub.ss58_address,
        "hotkey": wallet.hotkey.ss58_address,
    }
    _emit(args, data, f"wallet {data['name']}/{data['hotkey_name']}: coldkey {data['coldkey']}, hotkey {data['hotkey']}")
    return 0


def _fund(args: argparse.Namespace) -> int:
    chain, settings = _open(args)
    address = args.ss58 or _wallet_of(settings).coldkeypub.ss58_address
    with chain:
        balance = chain.fund(address, _amount(args))
    _emit(args, {"coldkey": address, "balance_rao": balance}, f"{address} now holds {balance / RAO_PER_TAO:.9f} TAO")
    return 0


def _register(args: argparse.Namespace) -> int:
    chain, settings = _open(args)
    wallet = _wallet_of(settings)
    with chain:
        if args.fund > 0:
            chain.fund(wallet.coldkeypub.ss58_address, int(round(args.fund * RAO_PER_TAO)))
        uid = chain.register(wallet, settings.netuid)
        block = chain.block()
    data = {"netuid": settings.netuid, "uid": uid, "hotkey": wallet.hotkey.ss58_address, "block": block}
    _emit(args, data, f"registered {data['hotkey']} on subnet {settings.netuid} as uid {uid} at block {block}")
    return 0


def _stake(args: argparse.Namespace) -> int:
    chain, settings = _open(args)
    wallet = _wallet_of(settings)
    hotkey = args.hotkey or wallet.hotkey.ss58_address
    amount = _amount(args)
    with chain:
        if args.remove:
            left = chain.remove_stake(wallet, hotkey, settings.netuid, amount)
        else:
            left = chain.add_stake(wallet, hotkey, settings.netuid, amount)
        balance = chain.balance(wallet.coldkeypub.ss58_address)
    data = {"netuid": settings.netuid, "hotkey": hotkey, "coldkey": wallet.coldkeypub.ss58_address,
            "stake_rao": left, "balance_rao": balance}
    _emit(args, data, f"{data['coldkey']} has {left / RAO_PER_TAO:.9f} staked on {hotkey} "
          f"(free balance {balance / RAO_PER_TAO:.9f} TAO)")
    return 0


def _root_stake(args: argparse.Namespace) -> int:
    chain, settings = _open(args)
    wallet = _wallet_of(settings)
    hotkey = args.hotkey or wallet.hotkey.ss58_address
    with chain:
        move = chain.remove_root_stake if args.remove else chain.add_root_stake
        left = move(wallet, hotkey, _amount(args))
    data = {"hotkey": hotkey, "coldkey": wallet.coldkeypub.ss58_address, "root_stake_rao": left}
    _emit(args, data, f"{data['coldkey']} has {left / RAO_PER_TAO:.9f} TAO on root on {hotkey}")
    return 0


def _claim_root(args: argparse.Namespace) -> int:
    chain, settings = _open(args)
    wallet = _wallet_of(settings)
    with chain:
        claimed = chain.claim_root(wallet, settings.netuid)
    data = {"netuid": settings.netuid, "coldkey": wallet.coldkeypub.ss58_address, "claimed_rao": claimed}
    _emit(args, data, f"claimed {claimed / RAO_PER_TAO:.9f} TAO of root dividends on subnet {settings.netuid}, staked on root")
    return 0


def _advance(args: argparse.Namespace) -> int:
    chain, _ = _open(args)
    with chain:
        block = chain.advance(args.blocks)
    _emit(args, {"block": block}, f"block {block}")
    return 0


def _hyperparameters(args: argparse.Namespace) -> int:
    chain, settings = _open(args)
    overrides = _parse_overrides(args.overrides)
    with chain:
        if overrides:
            owner = _wallet_of(settings)
            for name, value in overrides.items():
                chain.set_hyperparameter(owner, settings.netuid, name, value)
        params = chain.hyperparameters(settings.netuid)
    data = {key: value for key, value in params.__dict__.items() if key != "extra"} | dict(params.extra)
    if args.json:
        print(json.dumps({"netuid": settings.netuid, **data}, sort_keys=True, default=str))
        return 0
    from rich.table import Table

    table = Table(title=f"subnet {settings.netuid} hyperparameters")
    table.add_column("name")
    table.add_column("value", justify="right")
    for key in sorted(data):
        table.add_row(key, str(data[key]))
    _console().print(table)
    return 0


def _status(args: argparse.Namespace) -> int:
    chain, settings = _open(args)
    netuid = settings.netuid
    with chain:
        metagraph = chain.metagraph(netuid)
        commitments = chain.commitments(netuid)
        params = chain.hyperparameters(netuid)
        history = chain.epoch_history(netuid)[-args.epochs:] if args.epochs > 0 else []
        next_epoch = chain.next_epoch_block(netuid)
        issuance = chain.total_issuance()
        weight_commits = chain.weight_commits(netuid)
        terms = chain.root_terms(netuid)
    neurons = [
        {
            "uid": n.uid,
            "hotkey": n.hotkey,
            "coldkey": n.coldkey,
            "stake_rao": n.stake,
            "validator_permit": n.validator_permit,
            "incentive": n.incentive,
            "dividends": n.dividends,
            "emission_rao": n.emission,
            "consensus": n.consensus,
            "validator_trust": n.validator_trust,
            "last_update": n.last_update,
            "block_at_registration": n.block_at_registration,
            "active": n.active,
            "commitment": commitments[n.hotkey].data if n.hotkey in commitments else None,
            "commitment_block": commitments[n.hotkey].block if n.hotkey in commitments else None,
        }
        for n in metagraph.neurons
    ]
    data = {
        "netuid": netuid,
        "block": metagraph.block,
        "tempo": params.tempo,
        "next_epoch_block": next_epoch,
        "owner_hotkey": params.owner_hotkey,
        "total_issuance_rao": issuance,
        "commit_reveal": params.commit_reveal_enabled,
        "weight_commits": weight_commits,
        "root": {"proportion": terms.proportion, "tao_weight": float(terms.tao_weight), "root_tao_rao": terms.root_tao,
                 "alpha_price": float(terms.alpha_price)},
        "neurons": neurons,
        "epochs": [record.to_dict() for record in history],
    }
    if args.json:
        print(json.dumps(data, sort_keys=True))
        return 0
    _print_status(data)
    return 0


def _console() -> Any:
    """A rich console; wide when stdout is not a terminal so piped tables keep every column."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def _print_status(data: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title=f"subnet {data['netuid']} at block {data['block']} (tempo {data['tempo']}, "
                        f"next epoch at {data['next_epoch_block']})")
    for name, justify in [("uid", "right"), ("hotkey", "left"), ("role", "left"), ("stake τ", "right"),
                          ("incentive", "right"), ("dividends", "right"), ("emission τ", "right"),
                          ("updated", "right"), ("commitment", "left")]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for n in data["neurons"]:
        role = "owner" if n["hotkey"] == data["owner_hotkey"] else "validator" if n["validator_permit"] else "miner"
        commitment = n["commitment"] or ""
        table.add_row(
            str(n["uid"]),
            n["hotkey"][:12] + "…",
            role,
            f"{n['stake_rao'] / RAO_PER_TAO:.3f}",
            f"{n['incentive']:.4f}",
            f"{n['dividends']:.4f}",
            f"{n['emission_rao'] / RAO_PER_TAO:.4f}",
            str(n["last_update"]),
            (commitment[:40] + "…") if len(commitment) > 40 else commitment,
        )
    console.print(table)
    if data.get("commit_reveal"):
        console.print(f"commit-reveal on: {len(data['weight_commits'])} weight commit(s) waiting for their reveal")
        for c in data["weight_commits"]:
            console.print(
                f"  uid {c['uid']} committed at block {c['commit_block']}, revealed at epoch {c['reveal_epoch']}"
            )
    for epoch in data["epochs"]:
        console.print(f"epoch {epoch['index']} at block {epoch['block']}: emitted {epoch['emission'] / RAO_PER_TAO:.4f} τ, "
                      f"credited {epoch['minted'] / RAO_PER_TAO:.4f} τ, recycled {epoch['recycled'] / RAO_PER_TAO:.4f} τ")
        by_kind: dict[str, int] = {}
        for p in epoch["payouts"]:
            by_kind[p["kind"]] = by_kind.get(p["kind"], 0) + p["amount"]
        for kind, amount in sorted(by_kind.items()):
            console.print(f"  {kind:<16} {amount / RAO_PER_TAO:.6f} τ")
