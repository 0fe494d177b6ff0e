"""The fixed-point rules that decide the last digit (Yuma reference 1.1)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from flock_subnet.rules.consensus import fixed, max_upscale_u16
from flock_subnet.rules.consensus.fixed import ONE
from flock_subnet.rules.consensus.median import weighted_median


def test_multiplication_floors_also_for_negatives():
    assert fixed.mul(3, ONE // 2) == 1  # 1.5 raw units -> 1
    assert fixed.mul(-3, ONE // 2) == -2  # arithmetic shift: toward minus infinity
    assert fixed.mul(fixed.from_int(2), fixed.from_int(3)) == fixed.from_int(6)


def test_division_truncates_toward_zero_and_safe_div_gives_zero():
    assert fixed.div(ONE, fixed.from_int(3)) == 1431655765
    assert fixed.div(-ONE, fixed.from_int(3)) == -1431655765
    assert fixed.div(ONE, 0) == 0
    assert fixed.div(fixed.from_int(1 << 30), 1) == 0  # overflow -> default


def test_from_num_rounds_to_nearest_even_through_f32():
    assert fixed.from_f32(0.5) == ONE // 2
    assert fixed.from_f32(0.1) == round(0.100000001490116119384765625 * ONE)
    assert fixed.from_f64(0.1) == 429496730
    # A value exactly between two raw steps rounds to the even one.
    assert fixed.from_fraction(__import__("fractions").Fraction(5, 2 * ONE)) == 2
    assert fixed.from_fraction(__import__("fractions").Fraction(7, 2 * ONE)) == 4


def test_u16_conversions():
    assert fixed.proportion_to_u16(ONE) == 65535
    assert fixed.proportion_to_u16(2 * ONE) == 65535
    assert fixed.proportion_to_u16(-5) == 0
    assert fixed.proportion_to_u16(fixed.div(ONE, fixed.from_int(3))) == 21844  # floor below 21845
    assert fixed.u16_to_proportion(65535) == ONE
    assert fixed.u16_to_proportion(32767) == (32767 << 32) // 65535
    assert fixed.bonds_ema_alpha(900_000) == 429496730  # 0.1000000001


def _exp_reference(raw: int) -> int:
    """The Taylor loop without the early stop."""
    if raw == 0:
        return ONE
    neg = raw < 0
    x = abs(raw)
    result, term = x + ONE, x
    for i in range(2, 32):
        term = ((term * x) >> 32) // i
        result += term
    return fixed.div(ONE, result) if neg else result


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-20 * ONE, max_value=20 * ONE))
def test_exp_matches_the_full_taylor_loop_and_math_exp(raw):
    if raw == ONE:
        return
    value = fixed.exp_safe(raw)
    assert value == _exp_reference(raw)
    x = raw / ONE
    if abs(x) <= 6:  # the sigmoid's range; 31 Taylor terms drift for larger inputs, as on chain
        assert math.isclose(value / ONE, math.exp(x), rel_tol=1e-6, abs_tol=1e-8)


def test_exp_safe_clamps_and_special_cases():
    assert fixed.exp_safe(100 * ONE) == fixed.exp_safe(20 * ONE)
    assert fixed.exp_safe(-100 * ONE) == fixed.exp_safe(-20 * ONE)
    assert fixed.exp_safe(0) == ONE
    assert fixed.exp_safe(ONE) == fixed.E_RAW
    assert abs(fixed.E_RAW / ONE - math.e) < 1e-9


def test_liquid_alpha_sigmoid():
    low, high = fixed.u16_to_proportion(6553), fixed.u16_to_proportion(19660)
    steep = fixed.from_int(1000)
    # Weight at consensus, no bond: buy diff 0 -> sigmoid(-(-5)) small -> alpha near low.
    a = fixed.alpha_sigmoid(ONE // 2, ONE // 2, 0, low, high, steep)
    lo, span = 6553 / 65535, (19660 - 6553) / 65535
    assert abs(a / ONE - (lo + span / (1 + math.exp(5)))) < 1e-6
    # Far above consensus: alpha near high.
    a = fixed.alpha_sigmoid(0, ONE, 0, low, high, steep)
    assert abs(a / ONE - (lo + span / (1 + math.exp(-5)))) < 1e-6
    assert low <= a <= high


def test_max_upscale_examples():
    assert max_upscale_u16([43690, 21845]) == [65535, 32768]
    assert max_upscale_u16([16383, 32767, 49149, 65535]) == [16383, 32767, 49149, 65535]
    assert max_upscale_u16([32767, 32767]) == [65535, 65535]
    assert max_upscale_u16([0, 0]) == [0, 0]
    assert max_upscale_u16([1, 0]) == [65535, 0]
    assert max_upscale_u16([]) == []


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 1000), st.integers(0, 20)), min_size=1, max_size=12),
    st.integers(1, 65534),
)
def test_weighted_median_matches_its_closed_form(entries, kappa_u16):
    stakes = [s for s, _ in entries]
    total = sum(stakes)
    stake = [(s << 32) // total for s in stakes]
    score = [v * (ONE // 20) for _, v in entries]
    use_total = sum(stake)
    minority = use_total - fixed.u16_to_proportion(kappa_u16)
    got = weighted_median(stake, score, minority, 0, use_total)
    # min{w : sum of stake with score <= w > minority}, or the largest score when none exceeds it.
    candidates = sorted(set(score))
    closed = next((w for w in candidates if sum(s for s, v in zip(stake, score) if v <= w) > minority), candidates[-1])
    assert got == closed
