"""Kubernetes resource quantities ("500m", "2Gi", "1e3", 4) as exact numbers.

The suffixes of k8s.io/apimachinery/pkg/api/resource/suffix.go (kubernetes v1.35.0): binary
Ki..Ei, decimal n, u, m, k, M, G, T, P, E, and decimal exponents (e3, E6).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d{1,3})?$")
_SUFFIX = {
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60), "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": Fraction(10**3),
    "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12), "P": Fraction(10**15),
    "E": Fraction(10**18),
}
MAX_LENGTH = 64  # the API server's quantities are short; a long string is not one


def parse(value: Any) -> Fraction | None:
    """The quantity's value, None when `value` is not a quantity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(value).limit_denominator(10**9)
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        return None
    match = _QUANTITY.match(value.strip())
    if not match:
        return None
    number, suffix = Fraction(match[1]), match[2] or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * Fraction(10) ** int(suffix[1:])
    return number * _SUFFIX.get(suffix, Fraction(1))


def shown(value: Fraction) -> str:
    """A number as an operator reads it: 4, 0.5."""
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"
