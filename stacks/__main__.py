"""The Pulumi program of project aifab (Pulumi.yaml: `main: stacks/`).

One stack per cluster, configured by stacks/Pulumi.<cluster>.yaml: it verifies the reviewed
tree generated/<cluster>/ against its lock and deploys exactly that (aifab.deploy.program).
The virtualenv .venv at the repository root needs `pip install -e '.[deploy]'`.
"""

from aifab.deploy.program import run

run()
