"""Serving a competition: the winner is found on the local chain, admitted like validators admit
it, served under `local/uid<N>@<rev>`, and replaced when the chain's incentive moves to another model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openai

from flock_subnet.rules.competitions import LOCAL
from flock_subnet.serve.factory import EngineOptions, build_served
from flock_subnet.serve.slot import ModelSlot
from flock_subnet.serve.watcher import WinnerWatcher
from flock_subnet.serve.winner import WinnerFinder, ranked_candidates
from tests.fixtures.chain import NETUID

HELLO = [{"role": "user", "content": "Sort the digits: 3 1 2"}]


def test_candidates_rank_by_incentive_then_commit_block_then_uid(serve_subnet, tiny_model_dir, second_model_dir):
    net = serve_subnet
    net.add_validator()
    net.publish("a", tiny_model_dir)
    net.publish("b", second_model_dir)  # the same block as a, a higher uid
    net.chain.advance(1)
    net.publish("c", second_model_dir)
    ranked = ranked_candidates(net.chain, NETUID, LOCAL)
    assert [c.uid for c in ranked] == [net.uids["a"], net.uids["b"], net.uids["c"]]
    assert ranked[0].commit_block == ranked[1].commit_block < ranked[2].commit_block
    assert ranked[0].model_id == net.model_id("a")

    net.reward("c")
    ranked = ranked_candidates(net.chain, NETUID, LOCAL)
    assert ranked[0].uid == net.uids["c"] and ranked[0].incentive > 0.99
    assert [c.uid for c in ranked[1:]] == [net.uids["a"], net.uids["b"]]


def test_a_refused_winner_is_skipped_for_the_next_admissible_one(serve_subnet, tiny_model_dir, second_model_dir, serve_cache):
    net = serve_subnet
    net.add_validator()
    net.publish("honest", tiny_model_dir)
    net.publish("copier", second_model_dir, salted_for="honest")  # a hash salted with someone else's hotkey
    net.reward("copier")
    finder = WinnerFinder(net.hub.client(None), LOCAL, serve_cache)
    winner = finder.find(net.chain, NETUID)
    assert winner is not None and winner.candidate.uid == net.uids["honest"]
    assert (winner.folder / "model.safetensors").is_file() and (winner.base_folder / "config.json").is_file()
    (reasons,) = finder.refused.values()
    assert any("salted hash" in reason for reason in reasons)


def test_the_watcher_swaps_only_after_the_recheck_interval(serve_subnet, tiny_model_dir, second_model_dir, serve_cache):
    net = serve_subnet
    net.add_validator()
    net.publish("a", tiny_model_dir)
    net.publish("b", second_model_dir)
    net.reward("a")
    finder = WinnerFinder(net.hub.client(None), LOCAL, serve_cache)
    slot = ModelSlot()

    def load(winner):
        c = winner.candidate
        return build_served(winner.folder, c.model_id, EngineOptions(device="cpu"), competition=LOCAL,
                            base_folder=winner.base_folder, aliases=(LOCAL.id,), details={"uid": c.uid})

    watcher = WinnerWatcher(net.chain, NETUID, finder, slot, load, recheck_blocks=20, poll_s=0.05)
    try:
        assert watcher.poll_once()
        first = slot.served
        assert first.model_id == net.model_id("a") and first.answers_to("local")
        assert [card.id for card in slot.cards()] == [net.model_id("a"), "local"]
        checked = watcher.status.checked_block

        net.reward("b")  # the next epoch: fewer than 20 blocks later
        assert net.chain.block() - checked < 20
        assert not watcher.poll_once() and slot.served is first
        net.chain.advance_to(checked + 20)
        assert watcher.poll_once()
        assert slot.served.model_id == net.model_id("b") and slot.swaps == 1
        assert first.engine.join(20)
        assert watcher.status.body()["uid"] == net.uids["b"]
        assert not watcher.poll_once()  # same winner: nothing reloads
    finally:
        slot.close()


def _health(url: str) -> dict:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def _wait_for_model(url: str, model_id: str, process, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        health = _health(url)
        if health.get("model") == model_id:
            return health
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, f"still serving {health}"
        time.sleep(0.2)


def test_serve_command_follows_the_winner_on_the_local_chain(serve_subnet, tiny_model_dir, second_model_dir, serve_cache):
    net = serve_subnet
    net.add_validator()
    net.publish("a", tiny_model_dir)
    net.publish("b", second_model_dir)
    net.reward("a")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_TOKEN")}
    env.update(net.hub.env(None))
    command = [
        sys.executable, "-m", "flock_subnet", "serve", "--competition", "local", "--netuid", str(NETUID),
        "--subtensor.chain_endpoint", f"file://{net.chain.path}", "--hub.endpoint", net.hub.url,
        "--cache-dir", str(serve_cache), "--recheck-blocks", "1", "--poll-interval", "0.2", "--port", "0",
        "--device", "cpu",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on http://"), process.stderr.read()
        url = line.split()[-1]
        health = _wait_for_model(url, net.model_id("a"), process)
        assert health["competition"] == "local" and health["uid"] == net.uids["a"]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        assert [m.id for m in client.models.list().data] == [net.model_id("a"), "local"]
        reply = client.chat.completions.create(model="local", messages=HELLO, max_tokens=8)
        assert reply.model == net.model_id("a") and reply.usage.completion_tokens >= 1

        net.reward("b")
        _wait_for_model(url, net.model_id("b"), process)
        streamed = list(client.chat.completions.create(model="local", messages=HELLO, max_tokens=8, stream=True))
        assert {chunk.model for chunk in streamed} == {net.model_id("b")}
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
