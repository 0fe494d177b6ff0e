"""Settings and the CLI skeleton: bittensor-style flags, environment variables, entry points."""

from __future__ import annotations

import argparse
import subprocess
import sys

from flock_subnet.config import add_neuron_args, settings_from_args


def _parse(argv, monkeypatch=None, env=None):
    parser = argparse.ArgumentParser()
    add_neuron_args(parser)
    return settings_from_args(parser.parse_args(argv))


def test_bittensor_style_flags(monkeypatch):
    for name in ("BT_NETUID", "BT_WALLET_NAME", "HF_ENDPOINT", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    s = _parse(
        [
            "--netuid", "7",
            "--wallet.name", "val",
            "--wallet.hotkey", "hk",
            "--wallet.path", "/tmp/w",
            "--subtensor.network", "test",
            "--subtensor.chain_endpoint", "ws://127.0.0.1:9944",
            "--hub.endpoint", "http://127.0.0.1:8000/",
            "--logging.debug",
        ]
    )
    assert s.netuid == 7
    assert (s.wallet.name, s.wallet.hotkey, s.wallet.path) == ("val", "hk", "/tmp/w")
    assert s.chain.network == "test" and s.chain.chain_endpoint == "ws://127.0.0.1:9944"
    assert not s.chain.is_local_chain
    assert s.hub.endpoint == "http://127.0.0.1:8000"
    assert s.logging.level == "DEBUG"


def test_environment_fills_what_flags_leave_out(monkeypatch):
    monkeypatch.setenv("BT_NETUID", "12")
    monkeypatch.setenv("BT_WALLET_NAME", "miner")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("WANDB_API_KEY", "k")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    s = _parse([])
    assert s.netuid == 12 and s.wallet.name == "miner" and s.hub.token == "hf_secret"
    assert s.wandb.mode == "online"
    s = _parse(["--netuid", "3", "--wandb.off"])
    assert s.netuid == 3 and s.wandb.mode == "disabled"
    monkeypatch.delenv("WANDB_API_KEY")
    assert _parse([]).wandb.mode == "offline"


def test_file_endpoint_selects_the_local_chain(tmp_path):
    s = _parse(["--subtensor.chain_endpoint", f"file://{tmp_path}/chain.db"])
    assert s.chain.is_local_chain
    assert s.chain.local_chain_file == tmp_path / "chain.db"
    s = _parse(["--subtensor.network", "embedded", "--localchain.path", str(tmp_path / "x.db")])
    assert s.chain.is_local_chain and s.chain.local_chain_file == tmp_path / "x.db"


def test_console_script_and_module_entry_points():
    out = subprocess.run([sys.executable, "-m", "flock_subnet", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("flock-subnet ")
    out = subprocess.run([sys.executable, "-m", "flock_subnet", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "commands" in out.stdout
    out = subprocess.run([sys.executable, "-m", "flock_subnet"], capture_output=True, text=True)
    assert out.returncode == 2


def test_protocol_command_round_trip():
    rev, salted = "ab" * 20, "cd" * 32
    enc = subprocess.run(
        [sys.executable, "-m", "flock_subnet", "protocol", "encode", "--repo", "alice/m",
         "--revision", rev, "--salted-hash", salted, "--competition", "local"],
        capture_output=True, text=True,
    )
    assert enc.returncode == 0, enc.stderr
    dec = subprocess.run([sys.executable, "-m", "flock_subnet", "protocol", "decode", enc.stdout.strip()],
                         capture_output=True, text=True)
    assert dec.returncode == 0
    assert '"revision": "%s"' % rev in dec.stdout
    bad = subprocess.run([sys.executable, "-m", "flock_subnet", "protocol", "decode", "f1:x"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "error:" in bad.stderr


def test_validators_score_toy_competitions_only_on_the_local_chain():
    from flock_subnet.rules.competitions import default_competitions

    production = {c.id for c in default_competitions(local_chain=False)}
    local = {c.id for c in default_competitions(local_chain=True)}
    assert "local" not in production and "qwen05b" in production
    assert {"local", "qwen05b"} <= local
