"""Text for people at a terminal: colour only where it helps, numbers that read right.

Colour follows no-color.org (NO_COLOR set and not empty: never) and force-color.org
(FORCE_COLOR set and not empty: always), NO_COLOR first, as CPython 3.13's
Lib/_colorize.py `can_colorize` orders them; otherwise only on a TTY. Machine formats (json,
sarif, github) never carry colour, whatever the environment says.

Numbers carry thousands separators (62,728 nodes), counts agree with their noun (1 node,
2 nodes), and a share never reads as all or nothing when it is not: 99.6% is not 100%.
Paths under the current directory print relative to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

MACHINE_FORMATS = frozenset({"json", "sarif", "github", "skopeo"})

# SGR codes (ECMA-48): bold 1, red 31, green 32, yellow 33, cyan 36; 0 resets.
STYLES = {"error": "1;31", "warning": "1;33", "note": "36", "ok": "32", "bold": "1",
          "added": "32", "removed": "31", "changed": "33"}


def use_color(stream: IO[Any] | None, fmt: str = "text",
              env: Mapping[str, str] | None = None) -> bool:
    """Whether output of format `fmt` to `stream` gets colour."""
    env = os.environ if env is None else env
    if fmt in MACHINE_FORMATS or env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str, color: bool) -> str:
    """`text` in `style` (a key of STYLES) when `color`, else unchanged."""
    return f"\x1b[{STYLES[style]}m{text}\x1b[0m" if color and text else text


def number(value: float) -> str:
    """62728 -> '62,728'; 1830.4 -> '1,830.4'; 3000.0 -> '3,000'."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,}"
    return f"{int(value):,}"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 node', '62,728 nodes' ('1 blueprint', '2 blueprints'; irregular plurals given)."""
    return f"{number(n)} {noun if n == 1 else plural or noun + 's'}"


def percent(part: float, whole: float, digits: int = 0) -> str:
    """`part` of `whole` as a percentage with `digits` decimals, never rounded onto a round
    figure it is not: 100% only when part == whole, 0% only when part is 0 (99.6 -> '99%',
    0.2 -> '1%', 100.3 -> '101%' at digits=0); 'n/a' without a whole."""
    if not whole:
        return "n/a"
    exact = 100 * part / whole
    step = 10 ** -digits
    shown = round(exact, digits)
    if shown == 100 and part != whole:
        shown = 100 - step if exact < 100 else 100 + step
    elif shown == 0 and part:
        shown = step if exact > 0 else -step
    return f"{shown:.{digits}f}%"


def relative(path: str | os.PathLike[str], cwd: Path | None = None) -> str:
    """`path` relative to the current directory when it lies under it, else as given."""
    text = os.fspath(path)
    candidate = Path(text)
    if not candidate.is_absolute():
        return text
    base = cwd or Path.cwd()
    try:
        return candidate.relative_to(base).as_posix() or "."
    except ValueError:
        return text
