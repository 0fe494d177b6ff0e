"""Training throughput: the project's trainer against the strongest plain `transformers.Trainer` setup.

Both train the same tiny model (built locally) on the same encoded samples of the `local`
competition's public generator, for the same number of optimizer steps, with the same batch
size (samples per step), sequence length, optimizer, learning rate and schedule, in fp32 on CPU
(bf16 on GPU). The baseline is what a user would choose with a plain Trainer: dynamic padding
(each batch padded to its longest sample, with an attention mask) and length-grouped sampling
(`train_sampling_strategy="group_by_length"`), bf16 on GPU; it computes the loss the model's
own `labels=` way. The project's trainer batches samples of similar length, needs no attention
mask (right padding under causal attention) and sends only answer positions through the output
layer and the last layer's MLP (most of the gain on shallow models such as the default `micro`;
`--preset small`, the `local` base, shows less). `--padded` also prints a Trainer that pads every sample to the sequence length.

Throughput is real (non-padding) tokens per second of the training loop, after an untimed
warm-up of both (first-use costs of the framework are paid once per process). Then `miner
train` runs under `torchrun` with 1 and with 2 processes (`--nproc` to change the largest), the
same global batch and steps, each rank on its own GPU or, on CPU, with `--threads` threads
each; their tokens/s are printed with the scaling efficiency. The last line is
`ratio=<project tokens/s divided by the dynamic-padding Trainer's tokens/s>`.

    .venv/bin/python scripts/bench_train.py [--preset micro] [--steps 40] [--batch 8]
    python scripts/bench_train.py --preset small --hidden 1024 --layers 12 --batch 64   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from transformers import TrainerCallback  # noqa: E402  (after the environment it reads)


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
    loop = _LoopClock()
    trainer = Trainer(model=model, args=training_args, train_dataset=rows, data_collator=collator, callbacks=[loop])
    trainer.train()
    return collator.real_tokens / loop.seconds


class _LoopClock(TrainerCallback):
    """Times the Trainer's loop alone, from its first step to its last (set-up excluded, as for the project)."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_train_end(self, args, state, control, **kwargs):
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.start


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


def run_ranks(model_dir: Path, args, workdir: Path, nproc: int) -> dict:
    """`miner train` under torchrun with `nproc` processes; returns its `--json` result (rank 0's)."""
    import torch

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    if not torch.cuda.is_available():  # CPU: each rank gets the threads of the in-process runs
        env["OMP_NUM_THREADS"] = str(args.threads)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
        "-m", "flock_subnet", "miner", "train", "--output-dir", str(workdir / f"ranks-{nproc}"),
        "--init-model", str(model_dir), "--cache-dir", str(workdir / "cache"), "--num-samples", str(args.samples),
        "--data-seed", str(args.data_seed), "--max-length", str(args.seq_len), "--lr", str(args.lr),
        "--warmup-steps", str(args.warmup), "--batch-tokens", str(args.batch * args.seq_len),
        "--max-batch-size", str(args.batch), "--max-steps", str(args.steps), "--save-every", "0",
        "--parallel", args.parallel, "--no-progress", "--wandb.off", "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"torchrun with {nproc} processes failed:\n{done.stderr[-3000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def _listed(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def machine() -> str:
    """The machine the numbers come from, in one line."""
    import torch

    cpu = platform.processor() or platform.machine()
    line = f"{cpu}, {os.cpu_count()} CPU cores, torch {torch.__version__}"
    if torch.cuda.is_available():
        line += f", {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    else:
        line += ", no GPU"
    return line


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
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch threads per process on CPU, in-process and per torchrun rank (default 1: shared machines make more threads erratic)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each trainer, alternated; the best counts")
    parser.add_argument("--padded", action="store_true", help="also run a Trainer padding every sample to --seq-len")
    parser.add_argument("--nproc", type=int, default=2, help="the most processes of the torchrun runs (0: skip them)")
    parser.add_argument("--parallel", choices=("ddp", "fsdp"), default="ddp", help="engine of the torchrun runs")
    args = parser.parse_args()

    from loguru import logger

    from flock_subnet.models.tiny import build_tokenizer
    from flock_subnet.rules.competitions import LOCAL
    from flock_subnet.rules.data import training_samples

    logger.remove()
    import torch

    if not torch.cuda.is_available():
        args.threads = args.threads or 1
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        workdir = Path(tmp)
        model_dir = _build_model(workdir / "model", args)
        rows = _encoded(build_tokenizer(args.seq_len), training_samples(LOCAL, args.data_seed, args.samples), args.seq_len)
        mean_len = sum(len(r["input_ids"]) for r in rows) / len(rows)
        shape = f"{args.preset}" + (f" (hidden {args.hidden}, layers {args.layers})" if args.hidden or args.layers else "")
        print(f"machine: {machine()}; in-process runs use {torch.get_num_threads()} torch thread(s)")
        print(f"model {shape}, {len(rows)} samples (mean {mean_len:.0f} tokens, max {args.seq_len}), "
              f"{args.steps} steps x {args.batch} samples")
        warm = argparse.Namespace(**{**vars(args), "steps": 3})  # process-wide warm-up (kernels, autograd), untimed
        run_project_trainer(model_dir, warm, workdir / "warm")
        run_hf_trainer(model_dir, rows, warm, workdir / "warm", dynamic=True)
        # alternated and repeated; the best of each counts (a shared machine only ever slows a run down)
        projects, dynamics = [], []
        for turn in range(args.repeats):
            projects.append(run_project_trainer(model_dir, args, workdir / f"turn-{turn}"))
            dynamics.append(run_hf_trainer(model_dir, rows, args, workdir / f"turn-{turn}", dynamic=True))
        project, dynamic = max(projects), max(dynamics)
        print(f"project trainer: {project:,.0f} tokens/s (best of {_listed(projects)})")
        print(f"transformers.Trainer, dynamic padding + group_by_length: {dynamic:,.0f} tokens/s (best of {_listed(dynamics)})")
        if args.padded:
            plain = run_hf_trainer(model_dir, rows, args, workdir, dynamic=False)
            print(f"transformers.Trainer, padded to {args.seq_len}: {plain:,.0f} tokens/s (ratio {project / plain:.2f})")
        if args.nproc >= 2:
            counts = sorted({1, args.nproc})
            speeds = {n: run_ranks(model_dir, args, workdir, n)["tokens_per_s"] for n in counts}
            for n in counts:
                print(f"miner train under torchrun, {n} process(es) ({args.parallel}): {speeds[n]:,.0f} tokens/s")
            scaling = speeds[args.nproc] / (args.nproc * speeds[1])
            print(f"scaling efficiency with {args.nproc} processes: {scaling:.2f} (1.00 = linear)")
        print(f"ratio={project / dynamic:.3f}")


if __name__ == "__main__":
    main()
