"""Integer emulation of the chain's fixed-point numbers (substrate-fixed v0.6.0).

Values are Python ints holding the raw bits: an I32F32 x is `round_down(x * 2**32)`. The rules
that decide the last digit, as subtensor's math uses them:
- multiplication `(a * b) >> 32` is an arithmetic shift, i.e. a floor, also for negatives;
- division `(a << 32) / b` truncates toward zero; `safe_div` gives 0 on division by zero;
- narrowing I64F64 -> I32F32 drops the extra fraction bits (floor);
- `from_num(f32/f64)` rounds to nearest, ties to even;
- `fixed_proportion_to_u16(x) = floor(x * 65535)` saturating to [0, 65535].
"""

from __future__ import annotations

import struct
from fractions import Fraction

FRAC = 32
ONE = 1 << FRAC
HALF = ONE >> 1
U16_MAX = 65_535
I32F32_MAX = (1 << 63) - 1
I32F32_MIN = -(1 << 63)
# `S::from_str("2.718281828459045235360287471352662497757")`: nearest raw value.
E_RAW = round(Fraction("2.718281828459045235360287471352662497757") * ONE)


def from_int(value: int) -> int:
    return int(value) << FRAC


def from_fraction(value: Fraction) -> int:
    """Round a rational to the nearest raw I32F32 (ties to even), as `from_num` does."""
    return round(Fraction(value) * ONE)


def from_f64(value: float) -> int:
    return from_fraction(Fraction(float(value)))


def from_f32(value: float) -> int:
    """A decimal literal the way Rust tests write it: nearest f32, then `I32F32::from_num`."""
    as_f32 = struct.unpack("<f", struct.pack("<f", float(value)))[0]
    return from_fraction(Fraction(as_f32))


def to_float(raw: int) -> float:
    return raw / ONE


def mul(a: int, b: int) -> int:
    return (a * b) >> FRAC


def div(a: int, b: int) -> int:
    """`safe_div`: a / b truncated toward zero; 0 when b is 0 or the quotient overflows."""
    if b == 0:
        return 0
    num = a << FRAC
    q = abs(num) // abs(b)
    if (num < 0) != (b < 0):
        q = -q
    if q > I32F32_MAX or q < I32F32_MIN:
        return 0
    return q


def saturate(raw: int) -> int:
    return I32F32_MAX if raw > I32F32_MAX else I32F32_MIN if raw < I32F32_MIN else raw


def u16_to_proportion(value: int) -> int:
    """`u16_proportion_to_fixed`: value / 65535 as raw I32F32."""
    return (int(value) << FRAC) // U16_MAX


def proportion_to_u16(raw: int) -> int:
    """`fixed_proportion_to_u16`: floor(x * 65535), saturating to [0, 65535]."""
    v = (raw * U16_MAX) >> FRAC
    return 0 if v < 0 else U16_MAX if v > U16_MAX else v


def exp(raw: int) -> int | None:
    """substrate-fixed `exp`: Taylor series to the 31st term, 1/exp(|x|) for negatives.

    Returns None where the library reports an error (overflow). Once a term floors to 0 every
    later term is 0 too, so the loop stops there with the same result.
    """
    if raw == 0:
        return ONE
    if raw == ONE:
        return E_RAW
    neg = raw < 0
    x = -raw if neg else raw
    result = x + ONE
    term = x
    for i in range(2, FRAC):
        term = (term * x) >> FRAC
        if term > I32F32_MAX:
            return None
        term //= i
        if not term:
            break
        result += term
        if result > I32F32_MAX:
            return None
    if neg:
        if result == 0:
            return None
        return div(ONE, result)
    return result


def exp_safe(raw: int) -> int:
    """`exp_safe`: input clamped to [-20, 20]; on error 0 (negative input) or the maximum."""
    lo, hi = -20 * ONE, 20 * ONE
    x = lo if raw < lo else hi if raw > hi else raw
    value = exp(x)
    if value is None:
        return 0 if x <= 0 else I32F32_MAX
    return value


_BATCH_LIMIT = 8 * ONE  # |x| <= 8: every Taylor product fits int64 when split in 16-bit halves


def exp_safe_batch(values: list[int]) -> list[int]:
    """`exp_safe` of many inputs at once, bit-identical to calling it on each.

    Inputs within [-8, 8] run through numpy int64: term * x is formed from x's high and low
    16-bit halves, (term*xh << 16 + term*xl) >> 32 == (term*xh + (term*xl >> 16)) >> 16, all
    below 2**63 since term < 2**41 there. Other inputs use the scalar path.
    """
    import numpy as np

    out: list[int | None] = [None] * len(values)
    batch_idx = []
    batch_x = []
    for k, v in enumerate(values):
        a = -v if v < 0 else v
        if 0 < a <= _BATCH_LIMIT and v != ONE:
            batch_idx.append(k)
            batch_x.append(a)
        else:
            out[k] = exp_safe(v)
    if batch_idx:
        x = np.array(batch_x, dtype=np.int64)
        xh = x >> 16
        xl = x & 0xFFFF
        result = x + ONE
        term = x.copy()
        for i in range(2, FRAC):
            term = ((term * xh) + ((term * xl) >> 16)) >> 16
            term //= i
            result += term
        one_shifted = ONE << FRAC
        for k, r in zip(batch_idx, result.tolist()):
            out[k] = one_shifted // r if values[k] < 0 else r  # 1/exp(|x|), r > 0
    return out  # type: ignore[return-value]


def clamp(raw: int, lo: int, hi: int) -> int:
    return lo if raw < lo else hi if raw > hi else raw


def alpha_sigmoid(consensus: int, weight: int, bond: int, alpha_low: int, alpha_high: int, steepness: int) -> int:
    """Liquid alpha of one validator-miner entry (all arguments raw I32F32, steepness too)."""
    return LiquidAlpha(alpha_low, alpha_high, steepness)(consensus, weight, bond)


class LiquidAlpha:
    """`alpha_sigmoid` with its constants bound once; results cached by the sigmoid's input.

    alpha = clamp(low + sigmoid(d) * (high - low), low, high) with sigmoid(d) =
    1 / (1 + exp_safe((steepness / -100) * (d - 1/2))), where d = clamp(w - c, 0, 1) when
    w >= b (buying) and clamp(b - w, 0, 1) otherwise (selling).
    """

    def __init__(self, alpha_low: int, alpha_high: int, steepness: int) -> None:
        self.low = alpha_low
        self.high = alpha_high
        self.span = alpha_high - alpha_low
        self.factor = div(steepness, from_int(-100))
        self.cache: dict[int, int] = {}

    def of_diff(self, diff: int) -> int:
        alpha = self.cache.get(diff)
        if alpha is None:
            sigmoid = div(ONE, ONE + exp_safe((self.factor * (diff - HALF)) >> FRAC))
            alpha = clamp(self.low + ((sigmoid * self.span) >> FRAC), self.low, self.high)
            self.cache[diff] = alpha
        return alpha

    @staticmethod
    def diff(consensus: int, weight: int, bond: int) -> int:
        d = weight - consensus if weight >= bond else bond - weight
        return 0 if d < 0 else ONE if d > ONE else d

    def __call__(self, consensus: int, weight: int, bond: int) -> int:
        return self.of_diff(self.diff(consensus, weight, bond))

    def prefill(self, diffs) -> None:
        """Compute the alphas of many diffs in one vectorised exp (same bits as one at a time)."""
        todo = sorted(set(diffs) - self.cache.keys())
        if not todo:
            return
        exps = exp_safe_batch([clamp((self.factor * (d - HALF)) >> FRAC, -20 * ONE, 20 * ONE) for d in todo])
        one_shifted = ONE << FRAC
        low, high, span = self.low, self.high, self.span
        for d, e in zip(todo, exps):
            sigmoid = one_shifted // (ONE + e)  # safe_div with a positive divisor
            alpha = low + ((sigmoid * span) >> FRAC)
            self.cache[d] = low if alpha < low else high if alpha > high else alpha


def bonds_ema_alpha(bonds_moving_average: int) -> int:
    """alpha = 1 - I32F32(I64F64(bma) / 1e6), the fixed bond EMA rate."""
    bma64 = (int(bonds_moving_average) << 64) // 1_000_000
    return ONE - (bma64 >> FRAC)
