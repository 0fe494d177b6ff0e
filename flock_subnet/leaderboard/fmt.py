"""Numbers and times for people: α amounts, percentages, losses, block ages, short keys (pure).

Every function takes `None` and returns a dash for it, so templates never test for missing values.
"""

from __future__ import annotations

import math
import time

from flock_subnet.chain.base import RAO_PER_TAO
from flock_subnet.leaderboard.model import BLOCK_SECONDS

DASH = "—"


def alpha(rao: float | None) -> str:
    """An amount in α with as many decimals as its size needs: `1,234 α`, `123.4 α`, `12.35 α`, `0.0123 α`."""
    if rao is None:
        return DASH
    value = float(rao) / RAO_PER_TAO
    if value == 0:
        return "0 α"
    size = abs(value)
    if size >= 1000:
        text = f"{value:,.0f}"
    elif size >= 100:
        text = f"{value:,.1f}"
    elif size >= 1:
        text = f"{value:,.2f}"
    elif size >= 0.0001:
        text = f"{value:.4f}"
    else:
        return f"{'-' if value < 0 else ''}<0.0001 α"
    return f"{text} α"


def percent(share: float | None, digits: int = 1) -> str:
    """A proportion in [0, 1] as a percentage: `52.3 %`, `0.04 %`, `0 %`."""
    if share is None:
        return DASH
    value = float(share) * 100
    if value == 0:
        return "0 %"
    if abs(value) < 10 ** -digits:
        return f"{value:.{digits + 2}f} %" if abs(value) >= 10 ** -(digits + 2) else f"<{10 ** -(digits + 2):g} %"
    return f"{value:.{digits}f} %"


def loss(value: float | None) -> str:
    """A loss with four decimals."""
    return DASH if value is None or not math.isfinite(value) else f"{value:.4f}"


def ratio(value: float | None) -> str:
    """A number in [0, 1] (win rate, incentive) with three decimals."""
    return DASH if value is None else f"{value:.3f}"


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def blocks(n: int) -> str:
    """A span of blocks with its wall-clock length at 12 s a block: `150 blocks (30 min)`."""
    unit = "block" if abs(n) == 1 else "blocks"
    return f"{n:,} {unit} ({duration(n * BLOCK_SECONDS)})"


def block_age(block: int | None, now_block: int) -> str:
    """How long ago `block` was: `block 1,230, 120 blocks (24 min) ago`."""
    if block is None:
        return DASH
    age = now_block - block
    if age <= 0:
        return f"block {block:,}, now"
    return f"block {block:,}, {blocks(age)} ago"


def ago(block: int | None, now_block: int) -> str:
    """`120 blocks (24 min) ago`."""
    if block is None:
        return DASH
    age = now_block - block
    return "now" if age <= 0 else f"{blocks(age)} ago"


def wall_time(unix: float) -> str:
    """A UTC timestamp: `2025-03-01 14:05 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(unix))


def block_wall_time(block: int, now_block: int, now_unix: float) -> str:
    """When `block` was (or will be) produced, at 12 s a block from `now_block` at `now_unix`."""
    return wall_time(now_unix - (now_block - block) * BLOCK_SECONDS)


def short_key(ss58: str | None) -> str:
    """An ss58 address cut to its first six and last four characters: `5F3sa2…x7Kq`."""
    if not ss58:
        return DASH
    return ss58 if len(ss58) <= 12 else f"{ss58[:6]}…{ss58[-4:]}"


def short_hash(value: str | None, length: int = 12) -> str:
    return DASH if not value else value[:length]
