"""`flock-subnet data digest|sample`: a round's hidden samples and their consensus digest.

`digest --competition ID --seed N [--n K]` prints `sha256:<hex>` of the round's samples (the
same on every validator whose environment is right; `--json` adds the task counts, and
`--check` compares the competition's declared digest the way a validator does at start-up).
`sample --competition ID --seed N --n K --json` prints the samples themselves.
"""

from __future__ import annotations

import argparse
import json

from flock_subnet.config import add_competition_files_arg, competition_files


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="a round's hidden samples and their consensus digest")
    sub = parser.add_subparsers(title="data commands", metavar="ACTION", required=True)

    digest = sub.add_parser("digest", help="sha256 of a round's hidden samples")
    _common(digest)
    digest.add_argument("--check", action="store_true", help="compare the competition's declared digest (as a validator does)")
    digest.set_defaults(handler=_digest)

    sample = sub.add_parser("sample", help="print a round's hidden samples")
    _common(sample)
    sample.set_defaults(handler=_sample)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--competition", default="local", help="competition id (default local)")
    parser.add_argument("--seed", type=int, required=True, help="round seed")
    parser.add_argument("--n", type=int, default=None, help="number of samples (default: the competition's round size)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    add_competition_files_arg(parser)


def _round(args: argparse.Namespace) -> tuple[object, list, int]:
    from flock_subnet.evaluation.samples import round_samples
    from flock_subnet.rules.competitions import get_competition
    from flock_subnet.tasks.catalog import load_operator_competitions

    load_operator_competitions(competition_files(args))
    competition = get_competition(args.competition)
    samples = round_samples(competition, args.seed, args.n)
    return competition, samples, len(samples)


def _digest(args: argparse.Namespace) -> int:
    from flock_subnet.rules.data import sample_task_counts, samples_digest

    competition, samples, n = _round(args)
    info: dict[str, object] = {
        "competition": competition.id, "seed": args.seed, "n": n,
        "digest": samples_digest(samples), "task_counts": sample_task_counts(samples),
    }
    status = 0
    if args.check:
        from flock_subnet.validator.data_check import check_data_digest

        check = check_data_digest(competition)
        info["check"] = {"status": check.status.value, "expected": check.expected, "actual": check.actual, "reason": check.reason}
        status = 0 if check.ok else 1
    if args.json:
        print(json.dumps(info))
    else:
        print(info["digest"])
        if args.check:
            print(f"declared digest: {info['check']['status']}" + (f" ({check.reason})" if check.reason else ""))
    return status


def _sample(args: argparse.Namespace) -> int:
    competition, samples, n = _round(args)
    if args.json:
        print(json.dumps({"competition": competition.id, "seed": args.seed, "n": n,
                          "samples": [sample.to_dict() for sample in samples]}, ensure_ascii=False))
        return 0
    for sample in samples:
        prompt = sample.prompt_messages[-1]["content"].replace("\n", " ")
        print(f"[{sample.task}] {prompt[:160]}\n  -> {sample.answer}")
    return 0
