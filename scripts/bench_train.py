"""Training throughput: the project's trainer against a plain `transformers.Trainer`.

Both train the same tiny model (built locally) on the same encoded samples of the `local`
competition's public generator, for the same number of optimizer steps, with the same batch
size (samples per step), sequence length, optimizer, learning rate and schedule, in fp32 on CPU
(bf16 on GPU). The baseline pads every sample to the sequence length and computes the
full-vocabulary loss at every position, as a plain Trainer script does; the project's trainer
batches samples of similar length and only scores answer tokens. A second baseline (Trainer with
dynamic padding and length-grouped sampling) is printed for reference.

Throughput is real (non-padding) tokens per second of the training loop, after an untimed
warm-up of both (first-use costs of the framework are paid once per process). The last line is
`ratio=<project tokens/s divided by plain Trainer tokens/s>`.

    .venv/bin/python scripts/bench_train.py [--preset micro] [--steps 40] [--batch 8]
    python scripts/bench_train.py --preset small --hidden 1024 --layers 12 --batch 64   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _encoded(tokenizer, samples, seq_len):
    from flock_subnet.rules.data import SampleTooLong, encode_chat

    rows = []
    for sample in samples:
        try:
            item = encode_chat(tokenizer, sample, seq_len)
        except SampleTooLong:
            continue
        rows.append({"input_ids": list(item.input_ids), "labels": list(item.labels)})
    return rows


class _Collator:
    """Pads a batch (to `pad_to` or to its longest sample) and counts the real tokens it saw."""

    def __init__(self, pad_id: int, pad_to: int | None) -> None:
        self.pad_id, self.pad_to, self.real_tokens = pad_id, pad_to, 0

    def __call__(self, rows):
        import torch

        width = self.pad_to or max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            ids[i, :n] = torch.tensor(row["input_ids"])
            labels[i, :n] = torch.tensor(row["labels"])
            mask[i, :n] = 1
            self.real_tokens += n
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def run_hf_trainer(model_dir: Path, rows, args, workdir: Path, dynamic: bool) -> float:
    """Tokens/s of a plain `transformers.Trainer` loop."""
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.config.use_cache = False
    collator = _Collator(pad_id=model.config.pad_token_id or 0, pad_to=None if dynamic else args.seq_len)
    training_args = TrainingArguments(
        output_dir=str(workdir / ("hf-dynamic" if dynamic else "hf-padded")),
        per_device_train_batch_size=args.batch,
        max_steps=args.steps,
        learning_rate=args.lr,
        warmup_steps=args.warmup,
        lr_scheduler_type="cosine",
        adam_beta2=0.98,
        max_grad_norm=1.0,
        weight_decay=0.0,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if dynamic else "random",
        seed=0,
        bf16=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=rows, data_collator=collator)
    start = time.perf_counter()
    trainer.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return collator.real_tokens / seconds


def run_project_trainer(model_dir: Path, args, workdir: Path) -> float:
    """Tokens/s of `flock_subnet.miner.training.train` with the same steps, batch and sequence length."""
    from flock_subnet.miner.training import TrainConfig, train

    result = train(
        TrainConfig(
            output_dir=workdir / "project",
            init_model_dir=model_dir,
            num_samples=args.samples,
            data_seed=args.data_seed,
            max_length=args.seq_len,
            lr=args.lr,
            warmup_steps=args.warmup,
            betas=(0.9, 0.98),
            batch_tokens=args.batch * args.seq_len,
            max_batch_size=args.batch,
            max_steps=args.steps,
            save_every=0,
            progress_bar=False,
            log_every=0,
        )
    )
    return result.tokens_per_s


def _build_model(out: Path, args) -> Path:
    """A kit preset, or a wider/deeper Llama of the same family (`--hidden`, `--layers`) for accelerators."""
    from flock_subnet.models.tiny import TINY_PRESETS, build_tiny_model, build_tokenizer

    if not args.hidden and not args.layers:
        return build_tiny_model(out, preset=args.preset)
    import dataclasses

    import torch
    from transformers import LlamaForCausalLM

    preset = TINY_PRESETS[args.preset]
    hidden = args.hidden or preset.hidden_size
    shape = dataclasses.replace(
        preset,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=args.layers or preset.num_hidden_layers,
        num_attention_heads=max(1, hidden // 64),
        num_key_value_heads=max(1, hidden // 64),
    )
    torch.manual_seed(0)
    LlamaForCausalLM(shape.llama_config()).save_pretrained(out, safe_serialization=True)
    build_tokenizer(shape.max_position_embeddings).save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="micro", help="tiny-model preset (micro, small)")
    parser.add_argument("--hidden", type=int, default=None, help="override the preset's hidden size (heads of 64)")
    parser.add_argument("--layers", type=int, default=None, help="override the preset's number of layers")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=8, help="samples per optimizer step")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--skip-dynamic", action="store_true", help="do not run the dynamic-padding baseline")
    args = parser.parse_args()

    from loguru import logger

    from flock_subnet.models.tiny import build_tokenizer
    from flock_subnet.rules.competitions import LOCAL
    from flock_subnet.rules.data import training_samples

    logger.remove()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        workdir = Path(tmp)
        model_dir = _build_model(workdir / "model", args)
        rows = _encoded(build_tokenizer(args.seq_len), training_samples(LOCAL, args.data_seed, args.samples), args.seq_len)
        mean_len = sum(len(r["input_ids"]) for r in rows) / len(rows)
        shape = f"{args.preset}" + (f" (hidden {args.hidden}, layers {args.layers})" if args.hidden or args.layers else "")
        print(f"model {shape}, {len(rows)} samples (mean {mean_len:.0f} tokens, max {args.seq_len}), "
              f"{args.steps} steps x {args.batch} samples")
        warm = argparse.Namespace(**{**vars(args), "steps": 3})  # process-wide warm-up (kernels, autograd), untimed
        run_project_trainer(model_dir, warm, workdir / "warm")
        run_hf_trainer(model_dir, rows, warm, workdir / "warm", dynamic=False)
        project = run_project_trainer(model_dir, args, workdir)
        print(f"project trainer: {project:,.0f} tokens/s")
        plain = run_hf_trainer(model_dir, rows, args, workdir, dynamic=False)
        print(f"transformers.Trainer, padded to {args.seq_len}: {plain:,.0f} tokens/s")
        if not args.skip_dynamic:
            dynamic = run_hf_trainer(model_dir, rows, args, workdir, dynamic=True)
            print(f"transformers.Trainer, dynamic padding + length grouping: {dynamic:,.0f} tokens/s "
                  f"(ratio {project / dynamic:.2f})")
        print(f"ratio={project / plain:.3f}")


if __name__ == "__main__":
    main()
