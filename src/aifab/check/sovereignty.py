"""Sovereignty settings hold together: an air gap has mirrors, residency matches the site.

An air-gapped cluster pulls every image and chart through the mirrors (docs/blueprint.md,
spec.sovereignty); data kept at a site outside the country of residency breaks residency. Its
driver containers build kernel modules from OS packages they download unless they are given the
site's package repositories (GPU Operator docs, "Install NVIDIA GPU Operator in Air-Gapped
Environments": the driver container needs a local package repository; the Network Operator's
DOCA-OFED driver container likewise, ofedDriver.repoConfig): a warning, since a site may bake
them into its own driver images.
"""

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding, warning
from aifab.model import Cluster

CODES = {
    "AF380": "air-gapped cluster without mirrors",
    "AF381": "residency differs from the site's country",
    "AF382": "air-gapped cluster whose driver containers have no package repository",
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
    if sov.air_gapped and not sov.package_repositories:
        yield warning("AF382", "the cluster is air-gapped but no package repository is given: "
                      "the GPU driver container (and the DOCA-OFED driver container) download "
                      "kernel headers and OS packages at start and will not become ready",
                      SOVEREIGNTY + ("airGapped",),
                      hint="add sovereignty.packageRepositories with the site's apt .list or "
                      "dnf .repo file, e.g. {local.list: 'deb [trusted=yes] "
                      "http://packages.example.kr/ubuntu noble main'}, or ignore this if your "
                      "driver images need no packages")
    if sov.residency is not None and sov.residency != site.country:
        yield finding("AF381", f"data must stay in {sov.residency}, but site '{site.name}' is in "
                      f"{site.country}: the data would live outside its country of residency",
                      SOVEREIGNTY + ("residency",),
                      hint=f"set residency: {site.country} if that is allowed, or run the "
                      f"cluster at a site in {sov.residency}")
