"""The fine-tuning loop on a real tiny model: loss, export, LoRA, budgets, refusals."""

from __future__ import annotations

import json

import pytest
import torch

from flock_subnet.miner.training import TrainConfig, TrainingError, train
from flock_subnet.miner.training.loss import answer_loss_sum, collate, scored_positions
from flock_subnet.models.checkpoint import TOKENIZER_FILES, content_hash
from flock_subnet.rules.competitions import LOCAL
from tests.miner.training.conftest import FAST

HOTKEY = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def test_answer_loss_equals_the_models_own_loss(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    from flock_subnet.rules.data import encode_chat, training_samples

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model.eval()
    encoded = [encode_chat(tiny_tokenizer, s, 256) for s in training_samples(LOCAL, 5, 6)]
    batch = collate([e.input_ids for e in encoded], [scored_positions(e.labels) for e in encoded], tiny_tokenizer.pad_token_id, "cpu")
    with torch.no_grad():
        batched = float(answer_loss_sum(model, batch))
        reference = 0.0
        for e in encoded:
            out = model(input_ids=torch.tensor([e.input_ids]), labels=torch.tensor([e.labels]))
            reference += float(out.loss) * sum(1 for label in e.labels[1:] if label != -100)
    assert batched == pytest.approx(reference, rel=1e-4)


def test_full_fine_tune_lowers_loss_and_exports_an_admissible_model(full_run, tiny_model_dir, model_cache_dir):
    from flock_subnet.evaluation.admission import check_model_dir

    config, result = full_run
    assert result.steps == 12 and result.stopped_by == "steps"
    assert result.output_dir == config.output_dir / "model"
    assert result.tokens > 0 and result.tokens_per_s > 0
    assert result.padding_efficiency > 0.8
    summary = json.loads((config.output_dir / "train_summary.json").read_text())
    assert summary["steps"] == 12
    for name in TOKENIZER_FILES:
        if (tiny_model_dir / name).exists():
            assert (result.output_dir / name).read_bytes() == (tiny_model_dir / name).read_bytes()
    assert content_hash(result.output_dir) != content_hash(tiny_model_dir)
    report = check_model_dir(result.output_dir, LOCAL, HOTKEY, cache_dir=model_cache_dir)
    assert report.ok, report.reasons
    assert sorted(p.name for p in config.checkpoint_dir.iterdir()) == ["LATEST", "step-00000010", "step-00000012"]


def test_training_loss_goes_down(full_run):
    from safetensors.torch import load_file

    config, result = full_run
    # the running loss over the last steps is below the untrained model's ~ln(4096) = 8.3
    assert result.train_loss < 7.5
    weights = load_file(str(config.checkpoint_dir / "step-00000012" / "trainable.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_lora_trains_few_parameters_and_exports_a_merged_plain_model(tiny_model_dir, run_dir, model_cache_dir):
    from safetensors.torch import load_file

    from flock_subnet.evaluation.admission import check_model_dir

    result = train(
        TrainConfig(
            output_dir=run_dir, init_model_dir=tiny_model_dir, max_steps=4, save_every=0, lora=True, lora_r=4, **FAST
        )
    )
    assert 0 < result.trainable_parameters < 200_000
    names = sorted(p.name for p in result.output_dir.iterdir())
    assert "adapter_config.json" not in names and "adapter_model.safetensors" not in names
    tuned = load_file(str(result.output_dir / "model.safetensors"))
    base = load_file(str(tiny_model_dir / "model.safetensors"))
    assert set(tuned) == set(base)
    assert any(not torch.equal(tuned[k], base[k]) for k in base)
    assert check_model_dir(result.output_dir, LOCAL, HOTKEY, cache_dir=model_cache_dir).ok


def test_an_existing_run_is_not_overwritten_without_resume(full_run):
    config, _ = full_run
    again = TrainConfig(**{**config.__dict__, "resume": False})
    with pytest.raises(TrainingError, match="--resume"):
        train(again)


def test_resuming_with_other_settings_is_refused(full_run):
    config, _ = full_run
    changed = TrainConfig(**{**config.__dict__, "resume": True, "seed": 99, "max_steps": 13})
    with pytest.raises(TrainingError, match="seed"):
        train(changed)


def test_own_data_file_and_epoch_budget(tiny_model_dir, run_dir, tmp_path):
    from flock_subnet.evaluation.samples import write_chat_file
    from flock_subnet.rules.data import training_samples

    data_file = write_chat_file(tmp_path / "chats.jsonl", training_samples(LOCAL, 11, 40))
    config = TrainConfig(
        output_dir=run_dir, init_model_dir=tiny_model_dir, data_file=data_file, epochs=1, save_every=0,
        **{**FAST, "batch_tokens": 512},
    )
    result = train(config)
    assert result.stopped_by == "epochs"
    assert 1 <= result.steps <= 40
    assert result.tokens > 0


def test_missing_budget_and_missing_data_file_say_what_to_do(tiny_model_dir, run_dir):
    with pytest.raises(TrainingError, match="budget"):
        TrainConfig(output_dir=run_dir)
    with pytest.raises(TrainingError, match="JSONL or Parquet"):
        train(TrainConfig(output_dir=run_dir, init_model_dir=tiny_model_dir, data_file=run_dir / "nope.jsonl", max_steps=1))


def test_gradient_accumulation_and_time_budget(tiny_model_dir, tmp_path):
    accumulated = train(
        TrainConfig(output_dir=tmp_path / "accum", init_model_dir=tiny_model_dir, max_steps=2, grad_accum=2, save_every=0, **FAST)
    )
    single = train(
        TrainConfig(output_dir=tmp_path / "single", init_model_dir=tiny_model_dir, max_steps=4, save_every=0, **FAST)
    )
    assert accumulated.steps == 2 and single.steps == 4
    assert accumulated.tokens == single.tokens  # the same four micro-batches, in the same order
    timed = train(
        TrainConfig(output_dir=tmp_path / "timed", init_model_dir=tiny_model_dir, max_seconds=0.2, save_every=0, **FAST)
    )
    assert timed.stopped_by == "seconds" and timed.steps >= 1
