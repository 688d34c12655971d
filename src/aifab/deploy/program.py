"""The stack program: verify the reviewed tree of one cluster, then declare it.

Stack configuration (stacks/Pulumi.<cluster>.yaml, written by aifab):

- `aifab:cluster` (required): the folder generated/<cluster>/ to deploy;
- `aifab:generatedDir`: where the trees are, relative to the project (Pulumi.yaml); default
  `generated`;
- `aifab:context`: the kubeconfig context; default the cluster name, never the kubeconfig's
  current context;
- `aifab:kubeconfig` (may be a secret): a kubeconfig's path or contents; default
  `$KUBECONFIG` or ~/.kube/config.

The tree is loaded and verified before any resource (the provider included) is declared: a
tree that is not what was reviewed fails the run with nothing planned.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from aifab.deploy.resources import DuplicateNameError, declare, resource_names, summary
from aifab.deploy.tree import TreeError, load_cluster_tree

DEFAULT_GENERATED = "generated"


def project_root() -> Path:
    """Where Pulumi.yaml is: from the engine, else the nearest parent of the cwd that has one."""
    try:
        root = pulumi.get_root_directory()
    except Exception:  # noqa: BLE001 - older engines and the test mocks do not know it
        root = None
    if root:
        return Path(root)
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return cwd


def run() -> None:
    config = pulumi.Config("aifab")
    cluster = config.require("cluster")
    generated = Path(config.get("generatedDir") or DEFAULT_GENERATED)
    if not generated.is_absolute():
        generated = project_root() / generated

    try:
        tree = load_cluster_tree(generated, cluster)
        resource_names(tree)
    except (TreeError, DuplicateNameError) as exc:
        raise pulumi.RunError(str(exc)) from None

    # An explicit provider: `kubernetes:*` stack settings and the kubeconfig's current
    # context are never used by accident, so one cluster's tree cannot land on another.
    provider = k8s.Provider(
        f"k8s-{cluster}",
        kubeconfig=config.get_secret("kubeconfig"),
        context=config.get("context") or cluster,
    )
    declare(tree, provider)

    pulumi.export("cluster", cluster)
    pulumi.export("blueprint", tree.lock.get("blueprint"))
    pulumi.export("blueprintDigest", tree.lock.get("blueprintDigest"))
    pulumi.export("lockDigest", tree.lock_digest)
    for key, value in summary(tree).items():
        pulumi.export(key, value)
