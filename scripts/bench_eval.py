#!/usr/bin/env python
"""Benchmark: the project's evaluator against the per-sample loop the existing subnets use.

Both score the same model on the same encoded samples with the same definition of the loss
(mean cross-entropy over answer tokens):

(a) naive: one sample at a time (batch size 1), full-vocabulary logits at every position,
    cross-entropy with -100 labels;
(b) evaluator: `flock_subnet.evaluation.loss.score_encoded` (shared prefixes run once,
    length-sorted batches under a token budget, LM head applied at answer positions only).

Each method runs `--repeats` times, interleaved, and the best time counts (the machine may be
shared). Prints tokens/s of each, both losses and their difference, the evaluator's model FLOPs
utilisation on a GPU (`flock_subnet.evaluation.mfu`), and the cost of greedy-decoded accuracy
on the competition's accuracy subset (at most 32 samples on a CPU; `--accuracy-samples`).

By default it measures two task mixes: `local` (the tiny Llama base on the toy tasks) and
`production` (the `qwen05b` mix of generated reasoning tasks on a random model of the
production architecture, Qwen2-0.5B-shaped; on a CPU scaled down to 2 of its 24 layers, which
the output says). It prints `ratio_<mix>=` for each and last `ratio=`, the smallest of them.
Exits 1 if the losses differ by more than the tolerance.

For a competition with procedural generators (the production `qwen05b` mix) it also times the
generation of one full round (`--round-samples`, default the competition's round size) in this
process, after the one-off library import, which it reports separately. `--accuracy-samples K`
adds the cost of greedy-decoded accuracy on K of the samples (batched, left-padded), next to
the loss pass.

    python scripts/bench_eval.py                       # CPU: the `local` base and the production mix
    python scripts/bench_eval.py --mix production --qwen-layers 24 --samples 32   # CPU, full depth (slow)
    python scripts/bench_eval.py --device cuda --random-qwen05b   # GPU, Qwen2-0.5B-shaped random model
    python scripts/bench_eval.py --device cuda --model DIR --competition qwen05b
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (bf16 + SDPA on cuda)")
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the `local` competition's base)")
    parser.add_argument("--random-qwen05b", action="store_true", help="build a random Qwen2-0.5B-shaped model (no download)")
    parser.add_argument(
        "--qwen-layers", type=int, default=None, help="layers of the random Qwen2 model (24 = 0.5B; default 24 on GPU, 2 on CPU)"
    )
    parser.add_argument("--mix", choices=("local", "production", "both"), default=None,
                        help="task mixes to measure (default both, unless a model or competition is given)")
    parser.add_argument("--competition", default=None, help="competition whose samples and limits to use")
    parser.add_argument("--samples", type=int, default=None, help="hidden samples (default 256; production mix on CPU 128)")
    parser.add_argument("--seed", type=int, default=0, help="round seed of the samples")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each method; the best counts")
    parser.add_argument("--batch-tokens", type=int, default=None, help="evaluator token budget per batch")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--tolerance", type=float, default=None, help="max |loss difference| (1e-4 fp32, 2e-2 bf16)")
    parser.add_argument("--round-samples", type=int, default=None, help="time generating a round of this size (generator mixes)")
    parser.add_argument("--accuracy-samples", type=int, default=None,
                        help="time greedy accuracy on this many samples (default the competition's; 0: off)")
    return parser.parse_args(argv)


def build_random_qwen05b(out_dir: Path, layers: int = 24) -> Path:
    """A Qwen2-0.5B-shaped model with random weights and the kit tokenizer, saved in bfloat16."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from flock_subnet.models.tiny import build_tokenizer

    config = Qwen2Config(
        vocab_size=151_936, hidden_size=896, intermediate_size=4864, num_hidden_layers=layers,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32_768,
        rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
        bos_token_id=0, eos_token_id=3, pad_token_id=1,
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out_dir, safe_serialization=True)
    build_tokenizer(model_max_length=1024).save_pretrained(out_dir)
    return out_dir


def time_round_generation(competition, seed: int, n: int | None) -> None:
    """Print how long one round of a generator mix takes to generate (after the one-off import)."""
    from flock_subnet.evaluation.samples import round_samples
    from flock_subnet.rules.data import GENERATORS
    from flock_subnet.tasks import gym

    if not any(name in GENERATORS for name in competition.tasks):
        return
    started = time.perf_counter()
    gym.library_version()
    imported = time.perf_counter() - started
    count = n or competition.samples_per_round
    started = time.perf_counter()
    produced = round_samples(competition, seed + 1, n=count)
    seconds = time.perf_counter() - started
    print(f"round generation: {len(produced)} samples of {competition.id!r} in {seconds:.2f} s "
          f"({len(produced) / seconds:,.0f} samples/s; library import {imported:.2f} s, once per process)")


def time_accuracy(model, tokenizer, samples, device: str, loss_seconds: float) -> None:
    """Print the cost of batched greedy decoding on `samples` next to the loss pass on as many."""
    from flock_subnet.evaluation.accuracy import (
        NEW_TOKEN_MARGIN,
        exact_match,
        generate_replies,
        prompt_ids,
    )

    longest = max(len(tokenizer(s.answer, add_special_tokens=False)["input_ids"]) for s in samples)
    started = time.perf_counter()
    prompts = prompt_ids(tokenizer, samples)
    replies, generated = generate_replies(model, tokenizer, prompts, longest + NEW_TOKEN_MARGIN, 32, device)
    seconds = time.perf_counter() - started
    correct = sum(exact_match(r, s.answer) for r, s in zip(replies, samples))
    print(f"accuracy: {correct}/{len(samples)} exact, {generated} tokens generated in {seconds:.2f} s "
          f"({seconds / max(loss_seconds, 1e-9):.1f}x the loss pass on as many samples)")


def naive_scores(model, encoded, torch, F) -> tuple[float, int]:
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.inference_mode():
        for sample in encoded:
            ids = torch.tensor([sample.input_ids], device=device)
            labels = torch.tensor(sample.labels, device=device)
            logits = model(input_ids=ids).logits[0].float()
            total += float(F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100, reduction="sum"))
            count += int((labels[1:] != -100).sum())
    return total, count


def mixes(args: argparse.Namespace) -> list[str]:
    """Which task mixes to measure: both by default, the one a model, competition or flag names."""
    if args.mix:
        return ["local", "production"] if args.mix == "both" else [args.mix]
    if args.random_qwen05b:
        return ["production"]
    if args.model or args.competition:
        return ["given"]
    return ["local", "production"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    ratios: dict[str, float] = {}
    ok = True
    for mix in mixes(args):
        ratio, agreed = measure(args, mix)
        ratios[mix] = ratio
        ok = ok and agreed
    for mix, ratio in ratios.items():
        print(f"ratio_{mix}={ratio:.3f}")
    print(f"ratio={min(ratios.values()):.3f}")  # the weakest mix measured
    return 0 if ok else 1


def measure(args: argparse.Namespace, mix: str) -> tuple[float, bool]:
    """Time both methods on one mix; returns (evaluator / naive tokens-per-second ratio, losses agree)."""
    import torch
    import torch.nn.functional as F

    from flock_subnet.evaluation.loss import (
        encode_samples,
        load_model,
        load_tokenizer,
        score_encoded,
    )
    from flock_subnet.evaluation.mfu import mfu_line
    from flock_subnet.evaluation.samples import round_samples
    from flock_subnet.models.tiny import base_model_dir
    from flock_subnet.rules.competitions import LOCAL, QWEN_05B, get_competition

    production = mix == "production"
    competition = QWEN_05B if production else LOCAL
    if args.competition:
        competition = get_competition(args.competition)
    on_gpu = args.device.startswith("cuda")
    layers = args.qwen_layers or (24 if on_gpu else 2)
    n = args.samples or (128 if production and not on_gpu else 256)
    print(f"--- {mix} mix: competition {competition.id!r}")
    with tempfile.TemporaryDirectory(prefix="flock-bench-") as scratch:
        if production and not args.model:
            model_dir = build_random_qwen05b(Path(scratch) / "qwen05b-random", layers)
            scaled = "" if layers == 24 else f", scaled down to {layers} of its 24 layers (CPU time)"
            print(f"random Qwen2-0.5B-shaped model (production architecture: vocab 151,936, hidden 896{scaled})")
        elif args.model:
            model_dir = Path(args.model)
        else:
            model_dir = base_model_dir(LOCAL, Path(scratch) / "cache")
        model, device = load_model(model_dir, args.device)
        tokenizer = load_tokenizer(model_dir, competition)
        time_round_generation(competition, args.seed, args.round_samples)
        samples = round_samples(competition, args.seed, n=n)
        encoded = encode_samples(tokenizer, samples, competition.sequence_length)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    budget = args.batch_tokens or competition.eval_batch_tokens
    tokens = sum(len(s.input_ids) for s in encoded)
    params = sum(p.numel() for p in model.parameters())
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    print(f"model {model_dir.name}: {params / 1e6:.1f}M parameters, {device} {dtype}, {torch.get_num_threads()} threads")
    print(f"samples {len(encoded)} of {competition.id!r}, {tokens} tokens, {sum(s.answer_tokens for s in encoded)} scored")

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def naive():
        total, count = naive_scores(model, encoded, torch, F)
        return total / count

    def evaluator():
        return score_encoded(model, encoded, max_batch_tokens=budget, pad_token_id=pad).loss

    warm = encoded[: min(8, len(encoded))]
    naive_scores(model, warm, torch, F)
    score_encoded(model, warm, max_batch_tokens=budget, pad_token_id=pad)
    best = {"naive": float("inf"), "evaluator": float("inf")}
    losses = {}
    for _ in range(max(1, args.repeats)):
        for name, run in (("naive", naive), ("evaluator", evaluator)):
            sync()
            started = time.perf_counter()
            losses[name] = run()
            sync()
            best[name] = min(best[name], time.perf_counter() - started)
    rates = {name: tokens / seconds for name, seconds in best.items()}
    diff = abs(losses["naive"] - losses["evaluator"])
    tolerance = args.tolerance if args.tolerance is not None else (1e-4 if dtype == "float32" else 2e-2)
    print(f"(a) naive per-sample loop : {rates['naive']:>10,.0f} tokens/s  loss {losses['naive']:.6f}")
    print(f"(b) flock evaluator        : {rates['evaluator']:>10,.0f} tokens/s  loss {losses['evaluator']:.6f}")
    print(f"loss difference {diff:.2e} (tolerance {tolerance:g})")
    gpu_name = torch.cuda.get_device_name(device) if device.startswith("cuda") else None
    work = [(len(s.input_ids), s.answer_tokens) for s in encoded]
    print(mfu_line(model.config.to_dict(), work, best["evaluator"], gpu_name))
    accuracy_k = args.accuracy_samples
    if accuracy_k is None:  # the competition's subset (at most 32 on a CPU)
        accuracy_k = min(competition.accuracy_samples, len(samples), 10**9 if on_gpu else 32)
    if accuracy_k > 0:
        per_sample = best["evaluator"] / len(encoded)
        time_accuracy(model, tokenizer, samples[:accuracy_k], device, per_sample * accuracy_k)
    ratio = rates["evaluator"] / rates["naive"]
    print(f"{mix} mix: evaluator {ratio:.2f}x the naive loop")
    return ratio, diff <= tolerance


if __name__ == "__main__":
    sys.exit(main())
