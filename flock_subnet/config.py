"""Settings in one place: bittensor-style command-line flags, environment variables, defaults.

Every command builds its settings here, so a flag means the same thing everywhere. Precedence:
command-line flag > environment variable > default.

| flag | environment | default |
|---|---|---|
| `--netuid` | `BT_NETUID` | 96 |
| `--wallet.name` | `BT_WALLET_NAME` (or `BT_WALLET`) | `default` |
| `--wallet.hotkey` | `BT_WALLET_HOTKEY` | `default` |
| `--wallet.path` | `BT_WALLET_PATH` | `~/.bittensor/wallets` |
| `--subtensor.network` | `BT_SUBTENSOR_NETWORK` (or `BT_NETWORK`) | `finney` |
| `--subtensor.chain_endpoint` | `BT_SUBTENSOR_CHAIN_ENDPOINT` (or `BT_CHAIN_ENDPOINT`) | network's |
| `--hub.endpoint` | `HF_ENDPOINT` | `https://huggingface.co` |
| `--hub.token` | `HF_TOKEN` | none |
| `--wandb.project` / `--wandb.entity` / `--wandb.off` | `WANDB_PROJECT`, `WANDB_ENTITY`, `WANDB_MODE`, `WANDB_API_KEY` | `flock-subnet` |
| `--logging.debug` / `--logging.trace` / `--logging.logging_dir` | `BT_LOGGING_DEBUG` | info to stderr |
| `--cache-dir` | `FLOCK_CACHE_DIR` | `~/.cache/flock-subnet` |
| `--competitions-file` (repeatable) | `FLOCK_COMPETITIONS` (paths separated by `:`) | the built-in competitions only |
| (progress bars) | `FLOCK_PROGRESS` forces them on | on when stderr is a terminal |
| `--eval-devices` (validator) | `FLOCK_EVAL_DEVICES` (comma-separated: `cuda:0,cuda:1`, `cpu`) | every visible GPU, else one worker |
| `--eval-workers` (validator) | `FLOCK_EVAL_WORKERS` | one per device |

The chain endpoint `file:///path/chain.db` (or the network name `embedded` with `--localchain.path`)
selects the local chain instead of a subtensor node.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_NETUID = 96
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
DEFAULT_WALLET_PATH = "~/.bittensor/wallets"
EMBEDDED_NETWORK = "embedded"
DEFAULT_LOCALCHAIN_PATH = ".flock/localchain/chain.db"
DEFAULT_CACHE_DIR = "~/.cache/flock-subnet"
COMPETITIONS_ENV = "FLOCK_COMPETITIONS"
EVAL_DEVICES_ENV = "FLOCK_EVAL_DEVICES"
EVAL_WORKERS_ENV = "FLOCK_EVAL_WORKERS"


def _env(*names: str, default: str | None = None) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return value
    return default


def _env_flag(*names: str) -> bool:
    value = _env(*names, default="")
    return value.lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class WalletSettings:
    """Which bittensor wallet (coldkey folder and hotkey file) signs for this process."""

    name: str = "default"
    hotkey: str = "default"
    path: str = DEFAULT_WALLET_PATH

    @property
    def expanded_path(self) -> Path:
        return Path(self.path).expanduser()


@dataclass(frozen=True)
class ChainSettings:
    """Where the chain is: a subtensor network/endpoint, or the local chain file."""

    network: str = "finney"
    chain_endpoint: str | None = None
    localchain_path: str = DEFAULT_LOCALCHAIN_PATH

    @property
    def is_local_chain(self) -> bool:
        return self.network == EMBEDDED_NETWORK or (self.chain_endpoint or "").startswith("file://")

    @property
    def local_chain_file(self) -> Path:
        endpoint = self.chain_endpoint or ""
        if endpoint.startswith("file://"):
            return Path(endpoint[len("file://"):]).expanduser()
        return Path(self.localchain_path).expanduser()


@dataclass(frozen=True)
class HubSettings:
    """Which Hugging Face Hub (public or the project's local server) and which token."""

    endpoint: str = DEFAULT_HUB_ENDPOINT
    token: str | None = None


@dataclass(frozen=True)
class WandbSettings:
    """Weights & Biases: online with a key, offline without one, or off."""

    project: str = "flock-subnet"
    entity: str | None = None
    off: bool = False
    api_key: str | None = None
    directory: str | None = None

    @property
    def mode(self) -> str:
        if self.off:
            return "disabled"
        forced = _env("WANDB_MODE")
        if forced in {"disabled", "offline", "online"}:
            return forced
        return "online" if self.api_key else "offline"


@dataclass(frozen=True)
class LoggingSettings:
    debug: bool = False
    trace: bool = False
    logging_dir: str | None = None

    @property
    def level(self) -> str:
        return "TRACE" if self.trace else "DEBUG" if self.debug else "INFO"


@dataclass(frozen=True)
class Settings:
    """Everything a miner or validator process needs to know about its surroundings."""

    netuid: int = DEFAULT_NETUID
    wallet: WalletSettings = field(default_factory=WalletSettings)
    chain: ChainSettings = field(default_factory=ChainSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    wandb: WandbSettings = field(default_factory=WandbSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)


def resolve_cache_dir(chosen: str | Path | None = None) -> Path:
    """Where base models are built or downloaded: `chosen` (a `--cache-dir` flag), else the
    environment's `FLOCK_CACHE_DIR`, else `~/.cache/flock-subnet`."""
    return Path(chosen or _env("FLOCK_CACHE_DIR", default=DEFAULT_CACHE_DIR)).expanduser()


def progress_enabled() -> bool:
    """Progress bars show on a terminal (or with `FLOCK_PROGRESS` set), never in logs."""
    import sys

    return sys.stderr.isatty() or bool(os.environ.get("FLOCK_PROGRESS"))


def add_netuid_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--netuid", type=int, default=None, help=f"subnet uid (env BT_NETUID, default {DEFAULT_NETUID})")


def add_wallet_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("wallet")
    group.add_argument("--wallet.name", dest="wallet_name", default=None, help="coldkey wallet name (env BT_WALLET_NAME)")
    group.add_argument("--wallet.hotkey", dest="wallet_hotkey", default=None, help="hotkey name (env BT_WALLET_HOTKEY)")
    group.add_argument("--wallet.path", dest="wallet_path", default=None, help="wallets folder (env BT_WALLET_PATH)")


def add_chain_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("chain")
    group.add_argument(
        "--subtensor.network",
        dest="subtensor_network",
        default=None,
        help="finney, test, local, or 'embedded' for the local chain file (env BT_SUBTENSOR_NETWORK)",
    )
    group.add_argument(
        "--subtensor.chain_endpoint",
        dest="subtensor_chain_endpoint",
        default=None,
        help="ws://host:port of a subtensor node, or file:///path/chain.db for the local chain",
    )
    group.add_argument(
        "--localchain.path",
        dest="localchain_path",
        default=None,
        help=f"local chain file when the network is 'embedded' (env FLOCK_LOCALCHAIN, default {DEFAULT_LOCALCHAIN_PATH})",
    )


def add_hub_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hub")
    group.add_argument("--hub.endpoint", dest="hub_endpoint", default=None, help="Hugging Face Hub URL (env HF_ENDPOINT)")
    group.add_argument("--hub.token", dest="hub_token", default=None, help="Hub access token (env HF_TOKEN)")


def add_wandb_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("wandb")
    group.add_argument("--wandb.project", dest="wandb_project", default=None, help="W&B project (env WANDB_PROJECT)")
    group.add_argument("--wandb.entity", dest="wandb_entity", default=None, help="W&B entity (env WANDB_ENTITY)")
    group.add_argument("--wandb.off", dest="wandb_off", action="store_true", help="do not write a W&B run at all")
    group.add_argument("--wandb.dir", dest="wandb_dir", default=None, help="where W&B writes its files (env WANDB_DIR)")


def add_logging_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logging")
    group.add_argument("--logging.debug", dest="logging_debug", action="store_true", help="debug-level logs")
    group.add_argument("--logging.trace", dest="logging_trace", action="store_true", help="trace-level logs")
    group.add_argument("--logging.logging_dir", dest="logging_dir", default=None, help="also write logs to this folder")


def add_competition_files_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--competitions-file", dest="competitions_files", action="append", default=None, metavar="PATH",
        help=f"add the competitions defined in this file (TOML, JSON, YAML) or folder; repeatable (env {COMPETITIONS_ENV})",
    )


def competition_files(args: argparse.Namespace | None = None) -> list[Path]:
    """Operator competition files or folders: the `--competitions-file` flags, else `FLOCK_COMPETITIONS`."""
    chosen = getattr(args, "competitions_files", None) if args is not None else None
    if not chosen:
        chosen = [part for part in (_env(COMPETITIONS_ENV) or "").split(os.pathsep) if part]
    return [Path(path).expanduser() for path in chosen]


def export_competition_files(paths: list[Path]) -> None:
    """Put `paths` (absolute) in `FLOCK_COMPETITIONS`, so evaluation workers started from here,
    whatever their working folder, know the same operator competitions as this process."""
    if paths:
        os.environ[COMPETITIONS_ENV] = os.pathsep.join(str(Path(p).expanduser().resolve()) for p in paths)


@dataclass(frozen=True)
class EvalPoolSettings:
    """Which devices a validator evaluates on, and how many warm workers (None: decided by the machine)."""

    devices: tuple[str, ...] | None = None
    workers: int | None = None


def eval_pool_settings(args: argparse.Namespace | None = None) -> EvalPoolSettings:
    """`--eval-devices` / `--eval-workers`, else `FLOCK_EVAL_DEVICES` / `FLOCK_EVAL_WORKERS`."""
    a = vars(args) if args is not None else {}
    devices_text = a.get("eval_devices") or _env(EVAL_DEVICES_ENV)
    devices = tuple(d.strip() for d in devices_text.split(",") if d.strip()) if devices_text else None
    workers = a.get("eval_workers")
    if workers is None:
        text = _env(EVAL_WORKERS_ENV)
        if text is not None:
            if not text.strip().isdigit():
                raise ValueError(f"{EVAL_WORKERS_ENV}={text!r} is not a number of workers; set it to an integer such as 2")
            workers = int(text)
    if workers is not None and workers < 1:
        raise ValueError(f"the number of evaluation workers must be at least 1, not {workers}")
    return EvalPoolSettings(devices or None, workers)


def add_neuron_args(parser: argparse.ArgumentParser) -> None:
    """All the flags a miner or validator process accepts."""
    add_netuid_arg(parser)
    add_wallet_args(parser)
    add_chain_args(parser)
    add_hub_args(parser)
    add_wandb_args(parser)
    add_logging_args(parser)


def settings_from_args(args: argparse.Namespace | None = None) -> Settings:
    """Build `Settings` from parsed flags (any subset of the groups above) and the environment."""
    a = vars(args) if args is not None else {}

    def flag(name: str):
        return a.get(name)

    netuid = flag("netuid")
    if netuid is None:
        netuid = int(_env("BT_NETUID", default=str(DEFAULT_NETUID)))
    wallet = WalletSettings(
        name=flag("wallet_name") or _env("BT_WALLET_NAME", "BT_WALLET", default="default"),
        hotkey=flag("wallet_hotkey") or _env("BT_WALLET_HOTKEY", default="default"),
        path=flag("wallet_path") or _env("BT_WALLET_PATH", default=DEFAULT_WALLET_PATH),
    )
    chain = ChainSettings(
        network=flag("subtensor_network") or _env("BT_SUBTENSOR_NETWORK", "BT_NETWORK", default="finney"),
        chain_endpoint=flag("subtensor_chain_endpoint") or _env("BT_SUBTENSOR_CHAIN_ENDPOINT", "BT_CHAIN_ENDPOINT"),
        localchain_path=flag("localchain_path") or _env("FLOCK_LOCALCHAIN", default=DEFAULT_LOCALCHAIN_PATH),
    )
    hub = HubSettings(
        endpoint=(flag("hub_endpoint") or _env("HF_ENDPOINT", default=DEFAULT_HUB_ENDPOINT)).rstrip("/"),
        token=flag("hub_token") or _env("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
    )
    wandb = WandbSettings(
        project=flag("wandb_project") or _env("WANDB_PROJECT", default="flock-subnet"),
        entity=flag("wandb_entity") or _env("WANDB_ENTITY"),
        off=bool(flag("wandb_off")),
        api_key=_env("WANDB_API_KEY"),
        directory=flag("wandb_dir") or _env("WANDB_DIR"),
    )
    logging = LoggingSettings(
        debug=bool(flag("logging_debug")) or _env_flag("BT_LOGGING_DEBUG"),
        trace=bool(flag("logging_trace")) or _env_flag("BT_LOGGING_TRACE"),
        logging_dir=flag("logging_dir"),
    )
    return Settings(netuid=netuid, wallet=wallet, chain=chain, hub=hub, wandb=wandb, logging=logging)
