"""Air gap: every image and chart through the mirrors.

Why: an air-gapped cluster (spec.sovereignty.airGapped) has no route to the Internet. A
reference to nvcr.io or registry.k8s.io fails when a node is replaced at night or, where a
route exists after all, pulls code from outside the country. Only what went through the site's
mirrors was scanned and approved.

Fix: build image repositories with aifab.expand.common.image_registry and chart repositories
with chart_repository (aifab.expand.flux.release does), which apply the mirrors; mirror the
image keeping the upstream host as the first path segment (registry.site/nvcr.io/nvidia/...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aifab.diagnostics import Finding, Path
from aifab.expand.common import Output
from aifab.verify.policies._context import Context

CODES = {
    "AF436": "image not pulled through the registry mirror of an air-gapped cluster",
    "AF437": "chart not pulled through the chart mirror of an air-gapped cluster",
}


def _image_locations(ctx: Context, data: Any, base: Path = ()) -> Iterator[tuple[Path, str]]:
    """Where images come from: every `repository` string, and every `image` string that is a
    whole reference (not a name beside a `repository`)."""
    for path, node in ctx.mappings(data, base):
        repository = node.get("repository")
        if isinstance(repository, str) and repository:
            yield path + ("repository",), repository
        image = node.get("image")
        if isinstance(image, str) and image and not isinstance(repository, str):
            yield path + ("image",), image


def _through(reference: str, mirror: str | None) -> bool:
    if not mirror:
        return False
    mirror = mirror.rstrip("/")
    return reference == mirror or reference.startswith(mirror + "/")


def _image_sources(ctx: Context) -> Iterator[tuple[Output, Path, str]]:
    for out in ctx.objects:
        for path, ref in _image_locations(ctx, out.data):
            yield out, path, ref
    for out in ctx.releases:
        values = ctx.charts[out.path].values
        for path, ref in _image_locations(ctx, values, ("spec", "values")):
            yield out, path, ref


def check(ctx: Context) -> Iterator[Finding]:
    sov = ctx.cluster.sovereignty
    if not sov.air_gapped:
        return
    for out, path, ref in _image_sources(ctx):
        if not _through(ref, sov.registry_mirror):
            yield ctx.finding(out, "AF436", f"image '{ref}' is not pulled through the registry "
                              f"mirror {sov.registry_mirror!r}; the cluster is air-gapped, so "
                              "the pull would fail (or leave the site)", path,
                              "route it through spec.sovereignty.registryMirror "
                              "(aifab.expand.common.image_registry)")
    for out in ctx.releases:
        chart = ctx.charts[out.path]
        if not _through(chart.repository, sov.chart_mirror):
            yield ctx.finding(ctx.source_of(out), "AF437", f"chart '{chart.chart}' comes from "
                              f"'{chart.repository}', not from the chart mirror "
                              f"{sov.chart_mirror!r}; the cluster is air-gapped", ("spec", "url"),
                              "route it through spec.sovereignty.chartMirror "
                              "(aifab.expand.common.chart_repository)")
