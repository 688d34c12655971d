"""The stack program: verify the reviewed tree of one cluster, then declare it.

Stack `<cluster>` deploys generated/<cluster>/ of the project (the folder of Pulumi.yaml) and
nothing else: the tree `aifab generate --check` compares with the project's blueprints/.
Stack configuration (stacks/Pulumi.<cluster>.yaml, written by aifab):

- `aifab:cluster` (optional): the stack's name, if given (any other value is refused: it
  would deploy another cluster's tree to this stack's cluster);
- `aifab:context`: the kubeconfig context; default the cluster name, never the kubeconfig's
  current context, nor another stack's context (stacks/: its `aifab:context` or its name);
- `aifab:kubeconfig` (may be a secret): a kubeconfig's path or contents; default
  `$KUBECONFIG` or ~/.kube/config.

`aifab:generatedDir` is refused: a tree anywhere else was never checked against the
blueprints. The tree is loaded and verified before any resource (the provider included) is
declared: a tree that is not what was reviewed fails the run with nothing planned.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from aifab.deploy.resources import DuplicateNameError, declare, resource_names, summary
from aifab.deploy.stack_config import other_contexts, problems
from aifab.deploy.tree import TreeError, load_cluster_tree

GENERATED = "generated"


def project_root() -> Path:
    """Where Pulumi.yaml is: from the engine, else the nearest parent of the cwd that has one."""
    try:
        root = pulumi.get_root_directory()
    except Exception:  # noqa: BLE001 - older engines do not know it
        root = None
    if root and (Path(root) / "Pulumi.yaml").is_file():  # the mocks say "root_directory"
        return Path(root)
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return cwd


def run() -> None:
    config = pulumi.Config("aifab")
    cluster = pulumi.get_stack()
    settings = {f"aifab:{key}": config.get(key) for key in ("cluster", "generatedDir", "context")}
    root = project_root()
    refused = [f"{message} ({hint})" for _, _, message, hint in problems(
        cluster, {k: v for k, v in settings.items() if v is not None},
        other_contexts(root / "stacks", cluster))]
    if refused:
        raise pulumi.RunError(f"stack {cluster}: nothing was deployed: " + "; ".join(refused))
    try:
        tree = load_cluster_tree(root / GENERATED, cluster)
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
