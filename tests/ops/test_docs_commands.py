"""Every project command the operator docs (and localnet.sh's closing instructions) show is a
command that parses: real sub-commands, real flags, real pm2 process names."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from flock_subnet.cli import build_parser
from tests.ops.helpers import ROOT

DOCS = [ROOT / "docs" / name for name in ("miners.md", "validators.md", "subnet-owners.md")]
SAMPLE_VALUES = {"$netuid": "2", "$endpoint": "ws://127.0.0.1:9944", "$wallets": "/tmp/wallets"}


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"flock_script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shell_lines(text: str) -> list[str]:
    """Commands in fenced bash blocks, continuation lines joined."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [line.split("  #")[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _inline_mentions(text: str) -> list[list[str]]:
    """`flock-subnet ...` named in running text: the sub-command must exist (arguments may be elided)."""
    return [shlex.split(m) for m in re.findall(r"`((?:\.venv/bin/)?flock-subnet [a-z][^`]*)`", text)]


def _commands(text: str) -> list[list[str]]:
    out = []
    for line in _shell_lines(text):
        for name, value in SAMPLE_VALUES.items():
            line = line.replace(name, value)
        words = shlex.split(line)
        while words and (re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]) or words[0] == "export"):
            words = words[1:]  # environment assignments
        if words[-1:] == ["&"]:
            words = words[:-1]  # started in the background
        if words:
            out.append(words)
    return out


@functools.cache
def _ecosystem_names() -> frozenset[str]:
    script = f"console.log(JSON.stringify(require({json.dumps(str(ROOT / 'scripts' / 'ecosystem.config.js'))}).apps.map(a => a.name)))"
    return frozenset(json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout))


def _launched(words: list[str]) -> list[str] | None:
    """The project command a multi-GPU launcher (torchrun, accelerate launch) starts, its own flags parsed."""
    if words[0].endswith("torchrun") or words[1:3] == ["-m", "torch.distributed.run"]:
        from torch.distributed.run import get_args_parser

        launch = get_args_parser().parse_args(words[1:] if words[0].endswith("torchrun") else words[3:])
    elif words[0].endswith("accelerate") and words[1:2] == ["launch"]:
        from accelerate.commands.launch import launch_command_parser

        launch = launch_command_parser().parse_args(words[2:])
    else:
        return None
    script, rest = launch.training_script, list(launch.training_script_args)
    if launch.module:
        assert script == "flock_subnet", words
        return ["flock-subnet", *rest]
    assert script == "neurons/miner.py", words
    return ["python", script, *rest]


def check(words: list[str], ecosystem: set[str]) -> str | None:
    """Parse one documented command; returns what kind it was, None if it is not ours to check."""
    launched = _launched(words)
    if launched is not None:
        check(launched, ecosystem)
        return "launcher"
    program = words[0]
    if program.endswith("flock-subnet"):
        build_parser().parse_args(words[1:])
        return "flock-subnet"
    if program.endswith("python") and len(words) > 1:
        target = words[1]
        if target == "neurons/validator.py":
            build_parser().parse_args(["validator", "run", *words[2:]])
            return target
        if target == "neurons/miner.py":
            build_parser().parse_args(["miner", "run", *words[2:]])
            return target
        if target in ("scripts/watchdog.py", "scripts/auto_update.py"):
            _load_script(Path(target).stem).parse_args(words[2:])
            return target
        return None
    if program == "bash" and words[1:2] == ["scripts/localnet.sh"]:
        allowed = {"--check", "--stop", "--slow-blocks", "--keep-commit-reveal", "--help"}
        assert set(words[2:]) <= allowed, words
        return "localnet.sh"
    if program == "pm2" and words[1:3] == ["start", "scripts/ecosystem.config.js"]:
        only = words[words.index("--only") + 1].split(",") if "--only" in words else []
        assert set(only) <= ecosystem, only
        return "pm2"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documented_commands_parse(doc, capsys):
    ecosystem = _ecosystem_names()
    kinds = [check(words, ecosystem) for words in _commands(doc.read_text())]
    assert any(kinds), f"{doc.name} shows no project command"
    for words in _inline_mentions(doc.read_text()):
        path = [w for w in words[1:] if not w.startswith("-")][:2]
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args([*path, "--help"])
        assert info.value.code == 0, words
    capsys.readouterr()


def test_the_docs_cover_the_operations_tooling():
    kinds = {check(words, _ecosystem_names()) for doc in DOCS for words in _commands(doc.read_text())}
    assert {"pm2", "scripts/watchdog.py", "scripts/auto_update.py", "localnet.sh",
            "neurons/validator.py", "flock-subnet", "launcher"} <= kinds


def test_localnet_script_prints_commands_that_parse():
    text = (ROOT / "scripts" / "localnet.sh").read_text()
    heredoc = text[text.index("cat <<EOF") + len("cat <<EOF"): text.rindex("\nEOF")]
    commands = _commands("```bash\n" + heredoc.replace("\\\\\n", "\\\n") + "```")
    kinds = [check(words, _ecosystem_names()) for words in commands]
    assert {"flock-subnet", "neurons/validator.py", "neurons/miner.py"} <= set(kinds)


def test_the_miners_local_rehearsal_sets_up_the_chain_as_written(tmp_path, monkeypatch, capsys):
    """The `localnet` steps of miners.md's rehearsal, run in order as written, leave a registered
    miner and a registered, staked validator on the local chain."""
    from flock_subnet.cli import main

    text = (ROOT / "docs" / "miners.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S) if "localnet init" in b)
    monkeypatch.chdir(tmp_path)
    for line in _shell_lines(f"```bash\n{block}```"):
        words = shlex.split(line.replace("$PWD", str(tmp_path)))
        if words[0] == "export":
            for name, _, value in (w.partition("=") for w in words[1:]):
                monkeypatch.setenv(name, value)
        elif words[1] == "localnet":
            assert main([*words[1:], "--json"]) == 0, line
    capsys.readouterr()
    assert main(["localnet", "status", "--json"]) == 0
    neurons = json.loads(capsys.readouterr().out)["neurons"]
    assert len(neurons) == 3  # the owner, the miner, the validator
    assert max(n["stake_rao"] for n in neurons) >= 1000 * 10**9
