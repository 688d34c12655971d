"""Summary: SUMMARY.md and site.svg, the two files a reviewer of a pull request reads first.

The manifests are many and long; a reviewer first needs the cluster at a glance: pools, GPUs
and power against the budget, the tenants' shares, software versions, storage, sovereignty and
the warnings still open. Both files are "document" outputs (common.Output): written as is,
covered by the lock, kept current by `aifab generate --check`.

Every number comes from the model and the catalog (Cluster.gpus, NodePool.power_kw, ...):
facts.py holds what both files show (and how text is made safe to show), markdown.py fills
the template of SUMMARY.md, picture.py draws site.svg. Neither file holds a date or a path of
the machine that ran aifab (the blueprint's path is not known here), so both are
deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.expand.common import Output
from aifab.expand.summary.markdown import summary_markdown
from aifab.expand.summary.picture import site_svg
from aifab.model import Cluster

__all__ = ["expand", "site_svg", "summary_markdown"]


def expand(cluster: Cluster) -> Iterator[Output]:
    yield Output("SUMMARY.md", "document", {"text": summary_markdown(cluster)})
    yield Output("site.svg", "document", {"text": site_svg(cluster)})
