"""`flock-subnet miner ...`: train, evaluate, submit, inspect, and run the miner daemon.

    miner train   --output-dir DIR [--data-file F] [--lora] [--max-steps N | --max-seconds S] [--resume]
                  (several GPUs: torchrun --nproc-per-node N -m flock_subnet miner train ... [--parallel fsdp])
    miner eval    DIR --competition ID [--seed N | --block B]        self-evaluation (validators' code)
    miner submit  DIR --repo ID --competition ID [neuron flags]      check, upload, commit, publish
    miner status  [neuron flags] [--json]                            commitment, weights, incentive
    miner run     --repo ID --competition ID [train flags] [neuron flags]   the daemon

Heavy libraries (torch, transformers, bittensor, huggingface_hub) load inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from flock_subnet.config import DEFAULT_CACHE_DIR, add_neuron_args, resolve_cache_dir, settings_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("miner", help="fine-tune, self-evaluate, publish and commit models")
    sub = parser.add_subparsers(title="miner commands", metavar="ACTION", required=True)

    train = sub.add_parser("train", help="fine-tune the competition's base model (full or LoRA), resumable")
    _add_train_args(train, output_required=True)
    train.add_argument("--init-from-chain", action="store_true", help="start from the best model committed on chain")
    train.add_argument("--json", action="store_true", help="print only the result as JSON")
    add_neuron_args(train)
    train.set_defaults(handler=_train)

    evaluate = sub.add_parser("eval", help="admission check and loss on fresh hidden data, as validators compute it")
    evaluate.add_argument("model_dir", metavar="DIR", help="checkpoint folder (save_pretrained)")
    evaluate.add_argument("--competition", default="local", help="competition id (default local)")
    evaluate.add_argument("--hotkey", default=None, help="hotkey SS58 for the salted hash (default: the wallet's)")
    seed = evaluate.add_mutually_exclusive_group()
    seed.add_argument("--seed", type=int, default=None, help="hidden-data seed (default: a fresh random one)")
    seed.add_argument("--block", type=int, default=None, help="use the seed of this chain block, like a validator round")
    evaluate.add_argument("--in-process", action="store_true", help="evaluate in this process instead of a sandbox worker")
    evaluate.add_argument("--cache-dir", default=None, help=f"base model cache (env FLOCK_CACHE_DIR, default {DEFAULT_CACHE_DIR})")
    evaluate.add_argument("--json", action="store_true", help="print only the report as JSON")
    add_neuron_args(evaluate)
    evaluate.set_defaults(handler=_eval)

    submit = sub.add_parser("submit", help="check, upload privately, commit on chain, verify, make public")
    submit.add_argument("model_dir", metavar="DIR", help="checkpoint folder (save_pretrained)")
    submit.add_argument("--repo", required=True, help="hub repo id namespace/name (short: it must fit the commitment)")
    submit.add_argument("--competition", default="local", help="competition id (default local)")
    submit.add_argument("--skip-eval", action="store_true", help="skip the loss self-evaluation (admission still runs)")
    submit.add_argument("--max-wait", type=float, default=1800.0, help="seconds to wait out a commitment rate limit")
    submit.add_argument("--block-time", type=float, default=12.0, help="seconds per block, for wait estimates")
    submit.add_argument("--cache-dir", default=None, help=f"base model cache (env FLOCK_CACHE_DIR, default {DEFAULT_CACHE_DIR})")
    submit.add_argument("--json", action="store_true", help="print only the result as JSON")
    add_neuron_args(submit)
    submit.set_defaults(handler=_submit)

    status = sub.add_parser("status", help="this hotkey's commitment, validators' weights on it, incentive, emission")
    status.add_argument("--hotkey", default=None, help="hotkey SS58 to inspect (default: the wallet's)")
    status.add_argument("--json", action="store_true", help="print only JSON")
    add_neuron_args(status)
    status.set_defaults(handler=_status)

    run = sub.add_parser("run", help="the daemon: train, self-evaluate, submit when better than the chain's best")
    _add_train_args(run, output_required=False)
    run.add_argument(
        "--repo",
        default=os.environ.get("FLOCK_MINER_REPO"),
        required=not os.environ.get("FLOCK_MINER_REPO"),
        help="hub repo id to publish into (env FLOCK_MINER_REPO)",
    )
    run.add_argument("--workdir", default=os.environ.get("FLOCK_MINER_WORKDIR", ".flock/miner"), help="daemon folder (env FLOCK_MINER_WORKDIR)")
    run.add_argument("--rounds", type=int, default=None, help="stop after this many rounds (default: run until stopped)")
    run.add_argument("--rest", type=float, default=0.0, help="seconds to pause between rounds")
    run.add_argument("--init-from-chain", action="store_true", help="start every round from the chain's best model")
    run.add_argument("--compare-top", type=int, default=2, help="how many of the best-paid committed models to compare with")
    run.add_argument("--in-process", action="store_true", help="evaluate in-process instead of in a sandbox worker")
    run.add_argument("--max-wait", type=float, default=1800.0, help="seconds to wait out a commitment rate limit")
    run.add_argument("--json", action="store_true", help="print one JSON line per round")
    add_neuron_args(run)
    run.set_defaults(handler=_run)


def _add_train_args(parser: argparse.ArgumentParser, output_required: bool) -> None:
    group = parser.add_argument_group("training")
    if output_required:
        group.add_argument("--output-dir", required=True, help="run folder: model/ (export), checkpoints/, summary")
    group.add_argument("--competition", default=os.environ.get("FLOCK_COMPETITION", "local"), help="competition id (env FLOCK_COMPETITION)")
    group.add_argument("--data-file", default=None, help="your own JSONL/Parquet chat file (default: the public generator)")
    group.add_argument("--num-samples", type=int, default=2048, help="samples from the public generator")
    group.add_argument("--data-seed", type=int, default=0, help="seed of the public generator")
    group.add_argument("--init-model", default=None, help="start from this checkpoint folder instead of the base")
    group.add_argument("--lora", action="store_true", help="train a LoRA adapter (merged on export) instead of all weights")
    group.add_argument("--lora-r", type=int, default=16)
    group.add_argument("--lora-alpha", type=int, default=32)
    group.add_argument("--lora-dropout", type=float, default=0.0)
    group.add_argument("--max-steps", type=int, default=None, help="optimizer steps budget")
    group.add_argument("--max-seconds", type=float, default=None, help="wall-clock budget in seconds (600 when no budget is given)")
    group.add_argument("--epochs", type=float, default=None, help="passes over the data budget")
    group.add_argument("--lr", type=float, default=None, help="peak learning rate (AdamW); default depends on the base and --lora")
    group.add_argument("--warmup-steps", type=int, default=10)
    group.add_argument("--weight-decay", type=float, default=0.0)
    group.add_argument("--batch-tokens", type=int, default=4096, help="padded tokens per micro-batch")
    group.add_argument("--max-batch-size", type=int, default=None, help="samples per micro-batch at most")
    group.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    group.add_argument("--max-length", type=int, default=None, help="tokens per sample (default: the competition's)")
    group.add_argument("--eval-fraction", type=float, default=0.0, help="share of samples held out for a final loss")
    group.add_argument("--save-every", type=int, default=50, help="steps between resumable checkpoints")
    group.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the output folder")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available; cuda:LOCAL_RANK under torchrun)"
    )
    group.add_argument(
        "--parallel", choices=("ddp", "fsdp"), default="ddp",
        help="under torchrun / accelerate launch: ddp (a whole copy per GPU, default) or fsdp (weights and optimizer sharded)",
    )
    group.add_argument("--cache-dir", default=None, help=f"base model cache (env FLOCK_CACHE_DIR, default {DEFAULT_CACHE_DIR})")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cache_dir(args: argparse.Namespace) -> Path:
    return resolve_cache_dir(args.cache_dir)


def _train_config(args: argparse.Namespace, output_dir: Path, settings: Any) -> Any:
    from flock_subnet.miner.training import TrainConfig

    budget = {"max_steps": args.max_steps, "max_seconds": args.max_seconds, "epochs": args.epochs}
    if not any(budget.values()):
        budget["max_seconds"] = 600.0
    return TrainConfig(
        output_dir=output_dir,
        competition=args.competition,
        init_model_dir=args.init_model,
        data_file=args.data_file,
        num_samples=args.num_samples,
        data_seed=args.data_seed,
        eval_fraction=args.eval_fraction,
        max_length=args.max_length,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        batch_tokens=args.batch_tokens,
        max_batch_size=args.max_batch_size,
        grad_accum=args.grad_accum,
        lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        save_every=args.save_every,
        resume=args.resume,
        seed=args.seed,
        device=args.device,
        parallel=args.parallel,
        cache_dir=_cache_dir(args),
        progress_bar=not args.no_progress,
        wandb=settings.wandb,
        **budget,
    )


def _hub(settings: Any) -> Any:
    from flock_subnet.hub.huggingface import HuggingFaceHub

    return HuggingFaceHub(settings.hub.endpoint, settings.hub.token)


def _chain(settings: Any) -> Any:
    from flock_subnet.commands.wiring import open_chain

    return open_chain(settings.chain)


def _wallet(settings: Any) -> Any:
    from flock_subnet.chain.wallets import load_wallet

    return load_wallet(settings.wallet)


def _print(data: dict[str, Any], title: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, default=str))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in data.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, default=str)
        table.add_row(escape(key), escape(str(value)))  # keys like `loss[reverse]` are not markup
    Console(stderr=False).print(table)


def _train(args: argparse.Namespace) -> int:
    from flock_subnet.miner.training import train
    from flock_subnet.miner.training.distributed import broadcast, ranks_from_env, shutdown, start
    from flock_subnet.miner.training.setup import pick_device

    settings = settings_from_args(args)
    config = _train_config(args, Path(args.output_dir), settings)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`: save the training state, then exit
    ranks = ranks_from_env()  # under torchrun / accelerate launch: this process's rank
    start(ranks, pick_device(args.device, ranks))
    hub = None
    if args.init_from_chain and ranks.is_main:
        from flock_subnet.errors import FlockError
        from flock_subnet.miner.chain_models import best_chain_model
        from flock_subnet.rules.competitions import get_competition

        hub = _hub(settings)
        with _chain(settings) as chain:
            best = best_chain_model(
                chain, hub, settings.netuid, get_competition(args.competition), config.output_dir / "chain_model", config.cache_dir
            )
        if best is None or best.folder is None:
            raise FlockError(f"no admissible model of competition {args.competition!r} is committed on subnet {settings.netuid}; train from the base instead")
        config.init_model_dir = best.folder
    if args.init_from_chain:  # rank 0 downloaded the chain's best model; every rank starts from it
        config.init_model_dir = broadcast(config.init_model_dir, ranks)
    result = train(config, hub=hub)
    if ranks.is_main:  # every rank trains; rank 0 alone reports
        _print(result.to_dict(), "training", args.json)
    shutdown()
    return 0


def _eval(args: argparse.Namespace) -> int:
    from flock_subnet.miner.selfeval import self_evaluate

    settings = settings_from_args(args)
    hotkey = args.hotkey or _wallet(settings).hotkey.ss58_address
    seed = args.seed
    if args.block is not None:
        from flock_subnet.rules.data import round_seed

        with _chain(settings) as chain:
            seed = round_seed(chain.block_hash(args.block))
    report = self_evaluate(args.model_dir, args.competition, hotkey, seed, sandbox=not args.in_process, cache_dir=_cache_dir(args))
    if args.json:
        _print(report.to_dict(), "self-evaluation", True)
        return 0 if report.ok else 1
    data = {k: v for k, v in report.to_dict().items() if k != "eval"}
    details = report.eval or {}
    for key in ("samples", "tokens", "tokens_per_s", "seconds"):
        if key in details:
            data[key] = details[key]
    for task, loss in sorted((details.get("per_task") or {}).items()):
        data[f"loss[{task}]"] = loss
    _print(data, "self-evaluation", False)
    return 0 if report.ok else 1


def _submit(args: argparse.Namespace) -> int:
    from flock_subnet.miner.daemon import SubmitError, submit_model
    from flock_subnet.miner.selfeval import self_evaluate

    settings = settings_from_args(args)
    wallet = _wallet(settings)
    evaluation = None
    if not args.skip_eval:
        evaluation = self_evaluate(args.model_dir, args.competition, wallet.hotkey.ss58_address, cache_dir=_cache_dir(args))
        if not evaluation.ok:
            raise SubmitError(
                f"{args.model_dir} would not pass admission, so nothing was uploaded or committed; fix: "
                + "; ".join(evaluation.reasons),
                reasons=evaluation.reasons,
            )
        print(f"self-evaluation: loss {evaluation.loss:.4f} on fresh seed {evaluation.seed}", file=sys.stderr)
    with _chain(settings) as chain:
        result = submit_model(
            chain, _hub(settings), wallet, settings.netuid, args.model_dir, args.repo, args.competition,
            cache_dir=_cache_dir(args), max_wait_s=args.max_wait, block_time_s=args.block_time,
        )
    data = result.to_dict()
    if evaluation is not None:
        data["self_eval_loss"] = evaluation.loss
        data["self_eval_seed"] = evaluation.seed
    _print(data, "submission", args.json)
    return 0


def _status(args: argparse.Namespace) -> int:
    from flock_subnet.miner.daemon import miner_status

    settings = settings_from_args(args)
    hotkey = args.hotkey or _wallet(settings).hotkey.ss58_address
    with _chain(settings) as chain:
        status = miner_status(chain, settings.netuid, hotkey)
    if args.json:
        print(json.dumps(status.to_dict(), default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"miner {hotkey} on subnet {settings.netuid} at block {status.block}", show_header=False)
    table.add_row("uid", "not registered" if status.uid is None else str(status.uid))
    if status.reference:
        ref = status.reference
        table.add_row("committed", f"{ref['repo_id']}@{ref['revision'][:12]} ({ref['competition_id']}) at block {status.commit_block}")
    elif status.commitment:
        table.add_row("committed", f"unreadable: {status.commitment_error}")
    else:
        table.add_row("committed", "nothing yet (flock-subnet miner submit)")
    table.add_row("incentive", f"{status.incentive:.4f}")
    table.add_row("emission", f"{status.emission / 1e9:.6f} (last epoch)")
    table.add_row("stake", f"{status.stake / 1e9:.4f}")
    console.print(table)
    if status.validators:
        weights = Table(title="validators' weights on this miner")
        for column in ("validator uid", "hotkey", "stake", "weight", "share"):
            weights.add_column(column)
        for view in status.validators:
            weights.add_row(str(view.uid), view.hotkey[:12] + "…", f"{view.stake / 1e9:.2f}", f"{view.weight:.4f}", f"{view.share:.1%}")
        console.print(weights)
    return 0


def _run(args: argparse.Namespace) -> int:
    from flock_subnet.miner.daemon import Miner
    from flock_subnet.miner.training.distributed import ranks_from_env, shutdown, start
    from flock_subnet.miner.training.setup import pick_device

    settings = settings_from_args(args)
    ranks = ranks_from_env()  # under torchrun every rank trains; rank 0 evaluates and submits
    start(ranks, pick_device(args.device, ranks))
    workdir = Path(args.workdir).expanduser()
    template = _train_config(args, workdir, settings)
    template.wandb = None
    signal.signal(signal.SIGTERM, _interrupt)  # pm2 stop / kill: save the training state, then exit
    with _chain(settings) as chain:
        miner = Miner(
            chain, _hub(settings), _wallet(settings), settings.netuid, args.competition, workdir, args.repo, template,
            wandb_settings=settings.wandb, sandbox=not args.in_process, init_from_chain=args.init_from_chain,
            compare_top=args.compare_top, cache_dir=_cache_dir(args), rest_s=args.rest, max_wait_s=args.max_wait,
        )
        miner.run(max_rounds=args.rounds, on_round=lambda report: _round_line(report, args.json))
    shutdown()
    return 0


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _round_line(report: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), default=str), flush=True)
    else:
        loss = "n/a" if report.loss is None else f"{report.loss:.4f}"
        print(f"round {report.round}: loss {loss}; {report.decision}", flush=True)
