"""`flock-subnet localnet ...` end to end on a chain file in tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flock_subnet.cli import main
from flock_subnet.kit.localchain.chain import LocalChain


@pytest.fixture
def cli(tmp_path, capsys):
    chain_flags = ["--subtensor.chain_endpoint", f"file://{tmp_path / 'chain.db'}"]
    wallet_path = str(tmp_path / "wallets")

    def run(action: str, *args: str, wallet: str | None = None) -> dict:
        argv = ["localnet", action, *chain_flags, "--json", *args]
        if wallet is not None:
            argv += ["--wallet.name", wallet, "--wallet.path", wallet_path]
        code = main(argv)
        out = capsys.readouterr().out
        assert code == 0, out
        return json.loads(out)

    run.path = tmp_path / "chain.db"  # type: ignore[attr-defined]
    return run


def test_localnet_walkthrough(cli):
    init = cli("init", "--manual", "--tempo", "5", "--netuid", "7", "--set", "weights_rate_limit=3", wallet="owner")
    assert init["netuid"] == 7 and init["clock"] == "manual" and init["tempo"] == 5
    validator = cli("wallet", wallet="validator")
    nominator = cli("wallet", wallet="nominator")
    assert cli("wallet", wallet="validator")["hotkey"] == validator["hotkey"]  # idempotent

    reg = cli("register", "--netuid", "7", "--fund", "20", wallet="validator")
    assert reg["uid"] == 1
    staked = cli("stake", "--netuid", "7", "--amount", "10", wallet="validator")
    assert staked["stake_rao"] == 10 * 10**9
    cli("fund", "--amount-rao", str(3 * 10**9), wallet="nominator")
    delegated = cli("delegate", "--netuid", "7", "--hotkey", validator["hotkey"], "--amount", "2", wallet="nominator")
    assert delegated["stake_rao"] == 2 * 10**9 and delegated["balance_rao"] == 10**9
    assert cli("advance", "2")["block"] == 2

    hyper = cli("hyperparameters", "--netuid", "7", "--set", "weights_version=4", wallet="owner")
    assert hyper["weights_version"] == 4 and hyper["weights_rate_limit"] == 3 and hyper["tempo"] == 5

    status = cli("status", "--netuid", "7")
    assert status["block"] == 2 and status["next_epoch_block"] == 5
    assert [n["uid"] for n in status["neurons"]] == [0, 1]
    assert status["neurons"][0]["hotkey"] == init["owner_hotkey"]
    assert status["neurons"][1]["stake_rao"] == 12 * 10**9
    with LocalChain.open(cli.path) as chain:
        assert chain.stake_of(nominator["coldkey"], validator["hotkey"], 7) == 2 * 10**9


def test_localnet_refusals_exit_nonzero_with_the_chain_error(tmp_path, capsys):
    flags = ["--subtensor.chain_endpoint", f"file://{tmp_path / 'c.db'}", "--wallet.path", str(tmp_path / "w")]
    assert main(["localnet", "init", *flags, "--manual", "--netuid", "2", "--wallet.name", "owner"]) == 0
    assert main(["localnet", "wallet", *flags, "--wallet.name", "poor"]) == 0
    capsys.readouterr()
    assert main(["localnet", "register", *flags, "--netuid", "2", "--wallet.name", "poor"]) == 1
    assert "NotEnoughBalanceToStake" in capsys.readouterr().err
    assert main(["localnet", "init", *flags, "--manual", "--wallet.name", "owner"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["localnet", "status", "--subtensor.network", "finney"]) == 1
    assert "local chain only" in capsys.readouterr().err


def test_localnet_status_table_in_a_real_process(tmp_path):
    flags = ["--subtensor.network", "embedded", "--localchain.path", str(tmp_path / "x.db"),
             "--wallet.path", str(tmp_path / "w"), "--wallet.name", "owner"]
    base = [sys.executable, "-m", "flock_subnet", "localnet"]
    subprocess.run([*base, "init", *flags, "--block-time", "12", "--netuid", "3"], check=True, capture_output=True)
    out = subprocess.run([*base, "status", *flags, "--netuid", "3"], check=True, capture_output=True, text=True)
    assert "subnet 3" in out.stdout and "owner" in out.stdout


def test_localnet_commit_reveal_is_settable_at_init_and_later(cli):
    cli("init", "--manual", "--tempo", "5", "--netuid", "4", "--set", "commit_reveal_weights_enabled=true", wallet="owner")
    shown = cli("hyperparameters", "--netuid", "4", wallet="owner")
    assert shown["commit_reveal_enabled"] is True and shown["reveal_period_epochs"] == 1
    changed = cli("hyperparameters", "--netuid", "4", "--set", "commit_reveal_weights_enabled=false",
                  "--set", "commit_reveal_period=2", wallet="owner")
    assert changed["commit_reveal_enabled"] is False and changed["reveal_period_epochs"] == 2
    status = cli("status", "--netuid", "4")
    assert status["commit_reveal"] is False and status["weight_commits"] == []


def test_localnet_root_stake_and_claim(cli):
    cli("init", "--manual", "--tempo", "5", "--netuid", "5", "--set", "tao_weight_milli=500", wallet="owner")
    validator = cli("wallet", wallet="validator")
    cli("register", "--netuid", "5", "--fund", "20", wallet="validator")
    cli("fund", "--amount", "30", wallet="validator")
    staked = cli("root-stake", "--amount", "30", wallet="validator")
    assert staked == {"hotkey": validator["hotkey"], "coldkey": validator["coldkey"], "root_stake_rao": 30 * 10**9}
    assert cli("root-stake", "--remove", "--amount", "10", wallet="validator")["root_stake_rao"] == 20 * 10**9
    assert cli("claim-root", "--netuid", "5", wallet="validator")["claimed_rao"] == 0  # nothing earned yet
    root = cli("status", "--netuid", "5")["root"]
    assert root["tao_weight"] == 0.5 and root["root_tao_rao"] == 20 * 10**9 and root["alpha_price"] == 1.0
    assert root["proportion"] > 0
