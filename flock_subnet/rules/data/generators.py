"""The allow-list of procedural generators a competition may draw hidden tasks from.

Each entry names a `reasoning-gym` generator (at the pinned `REASONING_GYM_VERSION`), its
family, and the full default configuration (difficulty) passed to it; a competition may
override any of these keys and no others. Every generator here was checked byte-identical
across processes, `PYTHONHASHSEED` values and Python versions, to have one gold answer that
its own scorer accepts, short answers, and to make 16 items in well under a second.
Generators that are not deterministic (`codeio`, `list_functions`, `isomorphic_strings`,
`ransom_note`, `word_ladder`, `polynomial_multiplication`), have no single answer, or are
slow are deliberately absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from flock_subnet.rules.data.samples import DataError

REASONING_GYM_VERSION = "0.1.25"


class Family(str, Enum):
    MATH_WORD = "math_word_problems"
    ARITHMETIC = "arithmetic_algebra"
    LOGIC = "logic_puzzles"
    DATES = "dates_time"
    TEXT = "text_format"


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    family: Family
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def config(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults with `overrides` applied; an unknown key is an error that lists the known ones."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise DataError(
                f"generator {self.name!r} has no setting {', '.join(map(repr, unknown))}; "
                f"its settings are {', '.join(sorted(self.defaults))}"
            )
        return {**self.defaults, **overrides}


def _spec(name: str, family: Family, **defaults: Any) -> GeneratorSpec:
    return GeneratorSpec(name, family, MappingProxyType(defaults))


GENERATORS: Mapping[str, GeneratorSpec] = MappingProxyType({
    spec.name: spec
    for spec in (
        _spec("gsm_symbolic", Family.MATH_WORD, difficulty=1.0),
        _spec("basic_arithmetic", Family.ARITHMETIC, min_terms=2, max_terms=3, min_digits=1, max_digits=2,
              operators=["+", "-", "*"], allow_parentheses=False, allow_negation=False,
              format_style="simple", whitespace="single"),
        _spec("decimal_arithmetic", Family.ARITHMETIC, min_num_decimal_places=1, max_num_decimal_places=2,
              min_terms=2, max_terms=3, precision=6),
        _spec("fraction_simplification", Family.ARITHMETIC, min_value=1, max_value=100, min_factor=1,
              max_factor=20, styles=["plain"]),
        _spec("simple_equations", Family.ARITHMETIC, min_terms=2, max_terms=3, min_value=1, max_value=50,
              operators=["+", "-", "*"]),
        _spec("prime_factorization", Family.ARITHMETIC, min_value=2, max_value=500),
        _spec("gcd", Family.ARITHMETIC, min_numbers=2, max_numbers=2, min_value=1, max_value=500),
        _spec("base_conversion", Family.ARITHMETIC, min_base=2, max_base=16, min_value=1, max_value=255),
        _spec("knights_knaves", Family.LOGIC, n_people=2, depth_constraint=2, width_constraint=2),
        _spec("syllogism", Family.LOGIC, allow_all=True, allow_no=True, allow_some=True, allow_some_not=True,
              invalid_ratio=0.3, inversion_probability=0.3),
        _spec("family_relationships", Family.LOGIC, min_family_size=4, max_family_size=6),
        _spec("shortest_path", Family.LOGIC, min_rows=4, max_rows=6, min_cols=4, max_cols=6, p_blocked=0.3),
        _spec("calendar_arithmetic", Family.DATES, year=2022, offset_upper_bound=100, leap_year_range=200),
        _spec("time_intervals", Family.DATES, max_time_difference_seconds=86400, max_date_difference_days=100),
        _spec("spell_backward", Family.TEXT, min_word_len=3, max_word_len=8),
        _spec("word_sorting", Family.TEXT, min_words=3, max_words=6, min_word_length=3, max_word_length=10),
        _spec("letter_counting", Family.TEXT, min_words=5, max_words=10),
        _spec("number_sorting", Family.TEXT, min_numbers=3, max_numbers=6, min_decimals=0, max_decimals=1,
              min_value=-100.0, max_value=100.0),
    )
})  # fmt: skip


def generator_spec(name: str) -> GeneratorSpec:
    """The allow-listed generator `name`, or an error naming the allowed ones."""
    try:
        return GENERATORS[name]
    except KeyError:
        raise DataError(
            f"unknown task {name!r}: not an allow-listed generator ({', '.join(sorted(GENERATORS))})"
        ) from None


def families(task_names: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """Allow-listed task names grouped by family (other names are left out)."""
    grouped: dict[str, list[str]] = {}
    for name in sorted(task_names):
        if name in GENERATORS:
            grouped.setdefault(GENERATORS[name].family.value, []).append(name)
    return grouped
