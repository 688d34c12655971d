"""Deploy: the reviewed tree generated/<cluster>/ -> Pulumi resources (one stack per cluster).

`tree` loads and verifies the tree against its lock, `resources` declares it, `program` is the
stack program (stacks/__main__.py) and `stack_config` writes stacks/Pulumi.<cluster>.yaml.
Only `tree` and `stack_config` work without the `deploy` extra (pulumi, pulumi-kubernetes).
"""
