"""`flock-subnet serve --model DIR` as a user runs it: a real process, the real `openai` client."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from flock_subnet.cli import build_parser
from flock_subnet.commands.serve import add_serve_args

CLI = [sys.executable, "-m", "flock_subnet"]


def test_a_fresh_tiny_model_served_from_the_command_line(tmp_path):
    folder = tmp_path / "my-tiny"
    built = subprocess.run([*CLI, "model", "tiny", str(folder), "--preset", "micro", "--json"],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    env = {**os.environ, "FLOCK_SERVE_API_KEY": "sk-cli"}
    process = subprocess.Popen([*CLI, "serve", "--model", str(folder), "--port", "0", "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on http://"), process.stderr.read()
        client = openai.OpenAI(base_url=f"{line.split()[-1]}/v1", api_key="sk-cli", max_retries=0)
        assert [m.id for m in client.models.list().data] == ["my-tiny"]
        messages = [{"role": "user", "content": "Reverse the letters: a b c"}]
        reply = client.chat.completions.create(model="my-tiny", messages=messages, max_tokens=12, seed=4)
        assert reply.choices[0].finish_reason in ("stop", "length") and reply.usage.completion_tokens <= 12
        chunks = list(client.chat.completions.create(model="my-tiny", messages=messages, max_tokens=12, seed=4, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == reply.choices[0].message.content
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="my-tiny", messages=messages, top_p=0)
        assert bad.value.body["param"] == "top_p"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=client.base_url, api_key="wrong", max_retries=0).models.list()
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_vllm_without_vllm_or_a_gpu_is_a_clear_error(tiny_model_dir):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, whatever this machine has
    done = subprocess.run([*CLI, "serve", "--model", str(tiny_model_dir), "--engine", "vllm", "--port", "0"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1
    assert "error: --engine vllm needs" in done.stderr and "--engine transformers" in done.stderr


def test_bad_flags_are_refused_before_anything_loads(tmp_path):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["serve"])  # neither --model nor --competition
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--model", "x", "--competition", "local"])
    done = subprocess.run([*CLI, "serve", "--model", str(tmp_path / "missing"), "--port", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "not a checkpoint folder" in done.stderr


def test_the_serving_doc_commands_parse():
    from tests.ops.test_docs_commands import _commands, _ecosystem_names, check

    ecosystem = set(_ecosystem_names())
    doc = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
    kinds = []
    for words in _commands(doc.read_text()):
        if words[0].endswith("python") and words[1:2] == ["neurons/serve.py"]:
            parser = argparse.ArgumentParser()
            add_serve_args(parser)
            parser.parse_args(words[2:])
            kinds.append("neurons/serve.py")
        else:
            kinds.append(check(words, ecosystem))
    assert {"flock-subnet", "pm2", "neurons/serve.py"} <= set(kinds)
    assert "flock-serve" in ecosystem
