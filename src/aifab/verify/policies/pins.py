"""Pinned images and charts: no missing tag, no moving tag such as latest.

Why: a moving tag (or none, which means latest) names whatever was pushed last: two nodes may
run different code under one manifest, a rollback restores nothing, and a compromised upstream
push reaches the cluster without a diff. generated/ is the reviewed record of what runs.

Fix: pin a released version from the catalog (src/aifab/catalog/compatibility.yaml, each with
its source), or a digest (@sha256:...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aifab.diagnostics import Finding, Path
from aifab.expand.common import Output
from aifab.verify.policies._context import Context

CODES = {"AF438": "image or chart not pinned (no tag, or a moving tag such as latest)"}

# Tags that move: the image behind them changes without the manifest changing.
MOVING_TAGS = frozenset({"latest", "edge", "nightly", "main", "master", "stable"})


def split_reference(reference: str) -> tuple[str, str | None, str | None]:
    """`host:5000/ns/name:tag@sha256:...` -> (name part, tag or None, digest or None)."""
    name, _, digest = reference.partition("@")
    head, slash, last = name.rpartition("/")
    last, colon, tag = last.partition(":")
    return head + slash + last, (tag if colon else None), (digest or None)


def check(ctx: Context) -> Iterator[Finding]:
    hint = ("pin a released version (a tag such as v1.2.3, or a digest @sha256:...); moving "
            f"tags ({', '.join(sorted(MOVING_TAGS))}) change what runs without a diff")
    for out in ctx.objects:
        yield from _pins(ctx, out, out.data, (), hint, chart_defaults=False)
    for out in ctx.releases:
        chart = ctx.charts[out.path]
        if not chart.version or chart.version in MOVING_TAGS:
            # the version is the OCIRepository's tag, or the HelmRelease's chart version
            where, path = (ctx.source_of(out), ("spec", "ref", "tag")) if chart.oci else \
                (out, ("spec", "chart", "spec", "version"))
            yield ctx.finding(where, "AF438", f"chart '{chart.chart}' has no pinned "
                              f"version ({chart.version!r})", path, hint)
        yield from _pins(ctx, out, chart.values, ("spec", "values"), hint, chart_defaults=True)


def _pins(ctx: Context, out: Output, data: Any, base: Path, hint: str, *,
          chart_defaults: bool) -> Iterator[Finding]:
    """Image references in `data`. With `chart_defaults` (Helm values), a repository without a
    tag keeps the chart's own tag, which the pinned chart version fixes."""
    for path, node in ctx.mappings(data, base):
        image, repository = node.get("image"), node.get("repository")
        tag_key = next((k for k in ("version", "tag") if k in node), None)
        tag = node.get(tag_key) if tag_key else None
        if isinstance(image, str) and image and not isinstance(repository, str):
            _, ref_tag, digest = split_reference(image)
            if digest is None and (ref_tag is None or ref_tag in MOVING_TAGS):
                what = "has no tag (it means latest)" if ref_tag is None else f"uses '{ref_tag}'"
                yield ctx.finding(out, "AF438", f"image '{image}' {what}", path + ("image",), hint)
        elif isinstance(repository, str) and (isinstance(image, str) or tag_key):
            if tag_key is None:
                if not chart_defaults:
                    yield ctx.finding(out, "AF438", f"image '{repository}/{image}' has no "
                                      "version", path, hint)
            elif not isinstance(tag, str) or not tag or tag in MOVING_TAGS:
                yield ctx.finding(out, "AF438", f"image '{repository}' has {tag_key} "
                                  f"{tag!r}", path + (tag_key,), hint)
