"""`flock-subnet protocol encode|decode`: build or read an on-chain commitment by hand."""

from __future__ import annotations

import argparse
import json

from flock_subnet.rules import protocol


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("protocol", help="encode or decode an on-chain model commitment")
    sub = parser.add_subparsers(title="protocol commands", metavar="ACTION", required=True)

    enc = sub.add_parser("encode", help="print the commitment string for a model reference")
    enc.add_argument("--repo", required=True, help="Hugging Face repo id, namespace/name")
    enc.add_argument("--revision", required=True, help="full 40-hex commit sha")
    enc.add_argument("--salted-hash", required=True, help="64-hex salted content hash")
    enc.add_argument("--competition", required=True, help="competition id")
    enc.set_defaults(handler=_encode)

    dec = sub.add_parser("decode", help="parse a commitment string and print it as JSON")
    dec.add_argument("text", help="the commitment as read from the chain")
    dec.set_defaults(handler=_decode)


def _encode(args: argparse.Namespace) -> int:
    reference = protocol.ModelReference(args.repo, args.revision, args.salted_hash, args.competition)
    print(protocol.encode(reference))
    return 0


def _decode(args: argparse.Namespace) -> int:
    reference = protocol.decode(args.text)
    print(json.dumps(
        {
            "repo_id": reference.repo_id,
            "revision": reference.revision,
            "salted_hash": reference.salted_hash,
            "competition_id": reference.competition_id,
        }
    ))
    return 0
