"""A miner's whole path on the local chain and the local hub, judged by a real validator round.

Train the micro tiny model briefly; its self-evaluated loss (validators' sandboxed evaluator)
is clearly below the untrained model's on the same fresh seed; submit it, while another miner
submits the untrained model earlier; a validator round admits both and weights the trained one
above the untrained one, on chain.
"""

from __future__ import annotations

from flock_subnet.miner.daemon import submit_model
from flock_subnet.miner.selfeval import evaluate_on_seed, fresh_seed, self_evaluate
from flock_subnet.miner.training import TrainConfig, train
from flock_subnet.rules.competitions import LOCAL
from tests.fixtures.chain import NETUID, register_neuron, register_validator


def test_trained_model_beats_the_base_on_chain(
    tmp_path, local_chain, local_hub, make_wallet, tiny_model_dir, model_cache_dir
):
    from flock_subnet.validator.service import Validator, ValidatorConfig

    alice, bob, validator = make_wallet("alice"), make_wallet("bob"), make_wallet("validator")
    vuid = register_validator(local_chain, validator)
    alice_uid, bob_uid = register_neuron(local_chain, alice), register_neuron(local_chain, bob)

    result = train(
        TrainConfig(
            output_dir=tmp_path / "alice-run", init_model_dir=tiny_model_dir, cache_dir=model_cache_dir,
            num_samples=1024, batch_tokens=2048, lr=3e-3, warmup_steps=5, max_steps=40, max_seconds=60,
            save_every=0, device="cpu", progress_bar=False,
        )
    )
    seed = fresh_seed()
    own = self_evaluate(result.output_dir, LOCAL, alice.hotkey.ss58_address, seed, cache_dir=model_cache_dir)
    assert own.ok, own.reasons
    base_loss = evaluate_on_seed(tiny_model_dir, LOCAL, seed, sandbox=False).loss
    print(f"self-eval loss {own.loss:.3f} vs untrained {base_loss:.3f} after {result.steps} steps ({result.seconds:.1f} s)")
    assert own.loss < 0.8 * base_loss

    bob_sub = submit_model(local_chain, local_hub.client("bob"), bob, NETUID, tiny_model_dir, "bob/base", LOCAL, cache_dir=model_cache_dir)
    local_chain.advance(1)
    alice_sub = submit_model(
        local_chain, local_hub.client("alice"), alice, NETUID, result.output_dir, "alice/sft", LOCAL, cache_dir=model_cache_dir
    )
    assert bob_sub.commit_block < alice_sub.commit_block
    ready = alice_sub.commit_block + LOCAL.eval_delay_blocks
    local_chain.advance_to(-(-ready // LOCAL.round_length_blocks) * LOCAL.round_length_blocks)

    judge = Validator(
        local_chain, local_hub.client(None), validator, NETUID, [LOCAL], tmp_path / "validator",
        config=ValidatorConfig(eval_samples=32, eval_timeout_s=240, cache_dir=model_cache_dir),
    )
    try:
        report = judge.run_round()
    finally:
        judge.close()
    assert report.uids[alice_uid].loss < report.uids[bob_uid].loss
    assert report.weights_set, report.weights_message
    on_chain = local_chain.weights(NETUID)[vuid]
    assert on_chain.get(alice_uid, 0.0) > on_chain.get(bob_uid, 0.0)
