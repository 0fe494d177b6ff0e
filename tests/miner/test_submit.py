"""`submit_model` against the local chain and the local hub: the real publish-and-commit flow."""

from __future__ import annotations

import pytest

from flock_subnet.hub.base import RepoNotFound
from flock_subnet.kit.localchain.chain import LocalChain
from flock_subnet.miner.chain_models import best_chain_model
from flock_subnet.miner.daemon import SubmitError, submit_model
from flock_subnet.models.checkpoint import content_hash, salted_hash
from flock_subnet.rules import protocol
from flock_subnet.rules.competitions import LOCAL
from tests.fixtures.chain import NETUID, register_neuron

REPO = "alice/tiny-sft"


class WatchedChain:
    """The local chain, noting whether the repo was hidden from anonymous readers at commit time."""

    def __init__(self, chain: LocalChain, anonymous_hub, repo_id: str) -> None:
        self.chain, self.anonymous, self.repo_id, self.visible_at_commit = chain, anonymous_hub, repo_id, []

    def __getattr__(self, name):
        return getattr(self.chain, name)

    def commit(self, wallet, netuid, data):
        try:
            self.anonymous.files(self.repo_id, protocol.decode(data).revision)
            self.visible_at_commit.append(True)
        except RepoNotFound:
            self.visible_at_commit.append(False)
        return self.chain.commit(wallet, netuid, data)


def test_submit_uploads_privately_commits_reads_back_and_publishes(
    local_chain, local_hub, miner_wallet, model_copy, model_cache_dir, tmp_path
):
    from flock_subnet.evaluation.admission import admit_reference

    chain = WatchedChain(local_chain, local_hub.client(None), REPO)
    hotkey = miner_wallet.hotkey.ss58_address
    result = submit_model(chain, local_hub.client("alice"), miner_wallet, NETUID, model_copy, REPO, LOCAL, cache_dir=model_cache_dir)

    assert chain.visible_at_commit == [False], "the repo must stay private until the commitment exists"
    record = chain.commitments(NETUID)[hotkey]
    assert record.data == result.commitment and record.block == result.commit_block
    reference = protocol.decode(record.data)
    assert reference == result.reference
    assert reference.repo_id == REPO and reference.competition_id == "local"
    assert result.content_hash == content_hash(model_copy)
    assert reference.salted_hash == salted_hash(result.content_hash, hotkey)
    assert result.uid == chain.metagraph(NETUID).uid_of(hotkey)

    names = {f.name for f in local_hub.client(None).files(REPO, reference.revision)}  # public now
    assert "model.safetensors" in names
    report = admit_reference(local_hub.client("bob"), reference, hotkey, tmp_path / "admitted", LOCAL, cache_dir=model_cache_dir)
    assert report.ok, report.reasons
    assert report.content_hash == result.content_hash

    again = submit_model(chain, local_hub.client("alice"), miner_wallet, NETUID, model_copy, REPO, LOCAL, cache_dir=model_cache_dir)
    assert again.already_committed and again.commit_block == result.commit_block


def test_the_best_committed_model_is_fetched_to_start_training_from(
    local_chain, local_hub, miner_wallet, model_copy, model_cache_dir, tmp_path
):
    assert best_chain_model(local_chain, local_hub.client(None), NETUID, LOCAL, tmp_path / "best") is None
    result = submit_model(local_chain, local_hub.client("alice"), miner_wallet, NETUID, model_copy, REPO, LOCAL, cache_dir=model_cache_dir)
    best = best_chain_model(local_chain, local_hub.client("bob"), NETUID, LOCAL, tmp_path / "best", cache_dir=model_cache_dir)
    assert best is not None and best.uid == result.uid and best.reference == result.reference
    assert content_hash(best.folder) == result.content_hash


def test_a_model_admission_would_refuse_is_never_uploaded(local_chain, local_hub, miner_wallet, model_copy, model_cache_dir):
    (model_copy / "pytorch_model.bin").write_bytes(b"not allowed")
    (model_copy / "tokenizer.json").write_text("{}")
    with pytest.raises(SubmitError) as caught:
        submit_model(local_chain, local_hub.client("alice"), miner_wallet, NETUID, model_copy, REPO, LOCAL, cache_dir=model_cache_dir)
    text = str(caught.value)
    assert "nothing was uploaded" in text
    assert any("pytorch_model.bin" in r for r in caught.value.reasons)
    assert any("tokenizer" in r for r in caught.value.reasons)
    with pytest.raises(RepoNotFound):
        local_hub.client("alice").files(REPO, "main")
    assert miner_wallet.hotkey.ss58_address not in local_chain.commitments(NETUID)


def test_a_repo_id_too_long_for_the_commitment_says_by_how_much(local_chain, local_hub, miner_wallet, model_copy, model_cache_dir):
    budget = protocol.max_repo_id_length("local")
    repo = "alice/" + "m" * (budget - len("alice/") + 3)
    with pytest.raises(SubmitError, match="3 characters shorter"):
        submit_model(local_chain, local_hub.client("alice"), miner_wallet, NETUID, model_copy, repo, LOCAL, cache_dir=model_cache_dir)


def test_an_unregistered_hotkey_is_told_to_register_before_anything_is_uploaded(
    local_chain, local_hub, make_wallet, model_copy, model_cache_dir
):
    stranger = make_wallet("stranger")
    with pytest.raises(SubmitError, match="not registered on subnet 1; register"):
        submit_model(local_chain, local_hub.client("alice"), stranger, NETUID, model_copy, REPO, LOCAL, cache_dir=model_cache_dir)
    with pytest.raises(RepoNotFound):
        local_hub.client("alice").files(REPO, "main")


def test_the_commitment_rate_limit_is_waited_out_or_explained(
    make_local_chain, local_hub, make_wallet, model_copy, other_model_dir, model_cache_dir
):
    chain = make_local_chain("ratelimited", commitment_rate_limit=5)
    wallet = make_wallet("alice")
    register_neuron(chain, wallet)
    hub = local_hub.client("alice")
    first = submit_model(chain, hub, wallet, NETUID, model_copy, REPO, LOCAL, cache_dir=model_cache_dir)

    with pytest.raises(SubmitError, match=f"block {first.commit_block + 5}") as caught:
        submit_model(chain, hub, wallet, NETUID, other_model_dir, REPO, LOCAL, cache_dir=model_cache_dir, max_wait_s=0)
    assert caught.value.retry_at_block == first.commit_block + 5
    assert "nothing was uploaded" in str(caught.value)

    slept = []

    def one_block_per_nap(seconds):
        slept.append(seconds)
        chain.advance(1)

    second = submit_model(
        chain, hub, wallet, NETUID, other_model_dir, REPO, LOCAL, cache_dir=model_cache_dir,
        max_wait_s=600, block_time_s=12.0, sleep=one_block_per_nap,
    )
    assert second.commit_block >= first.commit_block + 5
    assert slept, "the submission should have waited for the rate limit"
    assert second.revision != first.revision
    assert protocol.decode(chain.commitments(NETUID)[wallet.hotkey.ss58_address].data).revision == second.revision
