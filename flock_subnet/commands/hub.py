"""`flock-subnet hub ...`: run the local Hub-compatible server, and publish/inspect/fetch checkpoints.

    flock-subnet hub serve --root .flock/hub --port 8765 --token alice=hf_alice
    flock-subnet hub upload ./ckpt alice/tiny --hub.endpoint http://127.0.0.1:8765 --hub.token hf_alice
    flock-subnet hub files alice/tiny --revision <sha>
    flock-subnet hub download alice/tiny ./out --revision <sha> --max-bytes 200000000
    flock-subnet hub gc --root .flock/hub     # delete stored files no commit refers to any more
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from flock_subnet.config import add_hub_args, add_logging_args, settings_from_args
from flock_subnet.errors import FlockError

DEFAULT_ROOT = ".flock/hub"


class HubCommandError(FlockError):
    """A `hub` command was given arguments it cannot use."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("hub", help="run the local hub server; upload, list and download checkpoints")
    commands = parser.add_subparsers(title="hub commands", metavar="HUB_COMMAND")
    parser.set_defaults(handler=lambda _args: (parser.print_help(), 2)[1])

    serve = commands.add_parser("serve", help="run a local Hugging Face Hub-compatible server in the foreground")
    serve.add_argument("--root", default=DEFAULT_ROOT, help=f"folder holding the hub's state (default {DEFAULT_ROOT})")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    serve.add_argument("--token", action="append", default=[], metavar="USER=TOKEN",
                       help="a user and its access token (repeatable; remembered under --root)")
    serve.add_argument("--max-object-bytes", type=int, default=None, help="refuse single files larger than this")
    serve.add_argument("--max-user-bytes", type=int, default=None,
                       help="each user's upload quota in bytes (default: none)")
    serve.add_argument("--max-connections", type=int, default=None,
                       help="connections served at once; more are answered 503 (default 64)")
    serve.add_argument("--idle-timeout", type=float, default=None, help="seconds a kept-alive connection may idle (default 120)")
    serve.add_argument("--header-timeout", type=float, default=None,
                       help="seconds past the idle wait for a request's line and headers to arrive (default 30)")
    serve.add_argument("--json", action="store_true", help="print {\"url\": ...} as JSON on stdout")
    add_logging_args(serve)
    serve.set_defaults(handler=_serve)

    gc = commands.add_parser("gc", help="delete stored files that no commit refers to (deleted repos, abandoned uploads)")
    gc.add_argument("--root", default=DEFAULT_ROOT, help=f"folder holding the hub's state (default {DEFAULT_ROOT})")
    gc.add_argument("--grace", type=float, default=3600.0,
                    help="keep unreferenced files younger than this many seconds: uploads whose commit is on its way")
    gc.add_argument("--json", action="store_true", help="print the counts as JSON")
    gc.set_defaults(handler=_gc)

    upload = commands.add_parser("upload", help="upload a checkpoint folder as one commit; prints the commit sha")
    upload.add_argument("folder")
    upload.add_argument("repo_id", metavar="REPO", help="namespace/name")
    upload.add_argument("--public", action="store_true", help="create the repo public (default private)")
    upload.add_argument("--message", default="Upload model", help="commit message")
    _client_args(upload)
    upload.set_defaults(handler=_upload)

    files = commands.add_parser("files", help="list the files of a repo at a revision (nothing is downloaded)")
    files.add_argument("repo_id", metavar="REPO")
    files.add_argument("--revision", default="main", help="branch, tag or commit sha (default main)")
    _client_args(files)
    files.set_defaults(handler=_files)

    download = commands.add_parser("download", help="download a repo at an exact revision, verified file by file")
    download.add_argument("repo_id", metavar="REPO")
    download.add_argument("dest", metavar="DEST")
    download.add_argument("--revision", default="main", help="branch, tag or commit sha (default main)")
    download.add_argument("--include", action="append", default=None, metavar="PATTERN", help="only files matching (repeatable)")
    download.add_argument("--max-bytes", type=int, default=None, help="refuse before downloading if the files are larger")
    _client_args(download)
    download.set_defaults(handler=_download)


def _client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo-type", choices=("model", "dataset"), default="model", help="repository type")
    parser.add_argument("--json", action="store_true", help="print JSON only on stdout")
    add_hub_args(parser)
    add_logging_args(parser)


def _parse_tokens(pairs: list[str]) -> dict[str, str]:
    tokens = {}
    for pair in pairs:
        user, sep, token = pair.partition("=")
        if not sep or not user or not token:
            raise HubCommandError(f"--token takes USER=TOKEN, got {pair!r}")
        tokens[user] = token
    return tokens


def _serve(args: argparse.Namespace) -> int:
    import time

    from flock_subnet.kit.localhub.server import make_server, serve_forever

    kwargs: dict = {}
    for flag, key in (("max_object_bytes", "max_object_bytes"), ("max_connections", "max_connections"),
                      ("idle_timeout", "idle_timeout_s"), ("header_timeout", "header_timeout_s"),
                      ("max_user_bytes", "max_user_bytes")):
        if getattr(args, flag) is not None:
            kwargs[key] = getattr(args, flag)
    started = time.perf_counter()
    hub = make_server(args.root, host=args.host, port=args.port, tokens=_parse_tokens(args.token), **kwargs)
    elapsed_ms = (time.perf_counter() - started) * 1000
    users = hub.store.users()
    if args.json:
        print(json.dumps({"url": hub.url, "root": str(hub.root), "users": users}), flush=True)
    else:
        print(f"local hub serving at {hub.url} (root {hub.root}, users: {', '.join(users) or 'none'}; "
              f"ready in {elapsed_ms:.0f} ms)", flush=True)
        print(f"point clients at it with: export HF_ENDPOINT={hub.url} HF_HUB_DISABLE_XET=1", flush=True)

    def _stop(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    try:
        serve_forever(hub)
    except KeyboardInterrupt:
        pass
    if not args.json:
        print("local hub stopped", file=sys.stderr)
    return 0


def _gc(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flock_subnet.kit.localhub.store import HubStore

    if not (Path(args.root) / "hub.sqlite").is_file():
        raise HubCommandError(f"{args.root} holds no local hub; pass the --root the hub serves from")
    store = HubStore(args.root)
    try:
        collected = store.collect_garbage(args.grace)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"removed": collected.bodies, "bytes": collected.bytes, "kept": collected.kept}))
    else:
        print(f"removed {collected.bodies} unreferenced file(s), {collected.bytes:,} bytes; kept {collected.kept}")
    return 0


def _client(args: argparse.Namespace):
    from flock_subnet.hub.huggingface import HuggingFaceHub

    hub = settings_from_args(args).hub
    return HuggingFaceHub(hub.endpoint, hub.token, repo_type=args.repo_type)


def _upload(args: argparse.Namespace) -> int:
    sha = _client(args).upload(args.folder, args.repo_id, private=not args.public, message=args.message)
    if args.json:
        print(json.dumps({"repo_id": args.repo_id, "revision": sha}))
    else:
        print(sha)
    return 0


def _files(args: argparse.Namespace) -> int:
    sha, files = _client(args).listing(args.repo_id, args.revision)
    if args.json:
        print(json.dumps({"repo_id": args.repo_id, "revision": sha,
                          "files": [{"name": f.name, "size": f.size, "sha256": f.sha256, "blob_id": f.blob_id} for f in files]}))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.repo_id} @ {sha}")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    table.add_column("sha256 (LFS) / git blob id")
    for f in files:
        table.add_row(f.name, f"{f.size:,}", f.sha256 or f"blob {f.blob_id}")
    table.caption = f"{len(files)} files, {sum(f.size for f in files):,} bytes"
    Console().print(table)
    return 0


def _download(args: argparse.Namespace) -> int:
    client = _client(args)
    sha = client.resolve(args.repo_id, args.revision)
    dest = client.download(args.repo_id, sha, args.dest, allow_patterns=args.include, max_bytes=args.max_bytes)
    if args.json:
        print(json.dumps({"repo_id": args.repo_id, "revision": sha, "path": str(dest)}))
    else:
        print(f"{args.repo_id}@{sha} -> {dest}")
    return 0
