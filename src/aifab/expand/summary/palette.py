"""Colours of site.svg: one per pool and one per tenant, all different from each other.

The hand-picked palettes come first; past them, hues a golden angle (137.5 degrees) apart at
alternating lightness, so a cluster with many pools or tenants never repeats a colour (the
palettes used to cycle: pool 9 had pool 1's colour)."""

from __future__ import annotations

import colorsys
from collections.abc import Collection, Sequence

POOLS = ("#1f5f8b", "#a23b50", "#2f7d4f", "#6d4a94", "#a65a16", "#1c7c7d", "#5b5f66",
         "#7d6512")
TENANTS = ("#d06a3c", "#3b7dd8", "#4f9d69", "#9a63b8", "#c9a227", "#2b9a9a", "#c2547a",
           "#6b7a2a")
UNALLOCATED = "#d4d4d4"
GOLDEN_ANGLE = 137.508


def _generated(step: int, lightness: Sequence[float]) -> str:
    hue = (step * GOLDEN_ANGLE) % 360 / 360
    red, green, blue = colorsys.hls_to_rgb(hue, lightness[step % len(lightness)], 0.55)
    return "#" + "".join(f"{round(c * 255):02x}" for c in (red, green, blue))


def colours(count: int, base: Sequence[str], avoid: Collection[str] = (),
            lightness: Sequence[float] = (0.32, 0.42)) -> list[str]:
    """`count` colours, all different and none in `avoid`: `base` first, then generated ones
    (dark enough for white text at the default lightness)."""
    taken = set(avoid)
    found = [c for c in base if c not in taken][:count]
    taken.update(found)
    step = 0
    while len(found) < count:
        colour = _generated(step, lightness)
        step += 1
        if colour not in taken:
            found.append(colour)
            taken.add(colour)
    return found


def pool_and_tenant_colours(pools: int, tenants: int) -> tuple[list[str], list[str]]:
    """Pool colours, then tenant colours: no two alike, none the unallocated grey."""
    pool = colours(pools, POOLS, {*TENANTS, UNALLOCATED})
    return pool, colours(tenants, TENANTS, {*pool, UNALLOCATED}, (0.46, 0.38))
