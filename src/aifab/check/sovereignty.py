"""Sovereignty settings hold together: an air gap has mirrors, residency matches the site.

An air-gapped cluster pulls every image and chart through the mirrors (docs/blueprint.md,
spec.sovereignty); data kept at a site outside the country of residency breaks residency.
"""

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster

CODES = {
    "AF380": "air-gapped cluster without mirrors",
    "AF381": "residency differs from the site's country",
}

SOVEREIGNTY = ("spec", "sovereignty")


def check(cluster: Cluster) -> Iterator[Finding]:
    sov, site = cluster.sovereignty, cluster.site
    if sov.air_gapped:
        missing = [key for key, value in (("registryMirror", sov.registry_mirror),
                                          ("chartMirror", sov.chart_mirror)) if value is None]
        if missing:
            yield finding("AF380", f"the cluster is air-gapped but {' and '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} not set; without the Internet "
                          "no image or chart could be pulled", SOVEREIGNTY + ("airGapped",),
                          hint="set registryMirror (e.g. registry.example.kr) and chartMirror "
                          "(e.g. oci://registry.example.kr/charts), or set airGapped: false")
    if sov.residency is not None and sov.residency != site.country:
        yield finding("AF381", f"data must stay in {sov.residency}, but site '{site.name}' is in "
                      f"{site.country}: the data would live outside its country of residency",
                      SOVEREIGNTY + ("residency",),
                      hint=f"set residency: {site.country} if that is allowed, or run the "
                      f"cluster at a site in {sov.residency}")
