"""Composed names and the DNS-label check behind the kubernetes_names rule.

With the schema's limits (pool names 30, tenant names 40 characters) no composed name can be
too long, so these cases build the model directly from data the schema would refuse.
"""

from __future__ import annotations

import pytest

from aifab.check import kubernetes_names
from aifab.naming import DNS_LABEL_MAX, composed_names, dns_label_problem
from aifab.resolve import resolve


def _cluster(pool: str, tenant: str, racks: int = 2):
    return resolve({
        "apiVersion": "aifab.dev/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "lab"},
        "spec": {
            "site": {"name": "lab-1", "country": "KR", "powerBudgetKW": 1000, "cooling": "liquid"},
            "kubernetes": {"version": "1.34"},
            "gpuOperator": {"version": "v26.3.0", "driver": {"version": "580.126.20"}},
            "nodePools": [{"name": pool, "system": "gb200-nvl72", "racks": racks,
                           "computeDomains": True}],
            "tenants": [{"name": tenant, "quota": {pool: 72}}],
        },
    }, "test.yaml")


def test_dns_label_problem_accepts_labels_up_to_the_limit():
    assert dns_label_problem("a" * DNS_LABEL_MAX) == ""
    assert dns_label_problem("gb200-nvl001") == ""


@pytest.mark.parametrize("name, words", [
    ("a" * (DNS_LABEL_MAX + 1), "64 characters long"),
    ("GB200", "not a DNS-1123 label"),
    ("gb200-", "not a DNS-1123 label"),
    ("gb200\n-nvl001", "not a DNS-1123 label"),
])
def test_dns_label_problem_explains(name, words):
    assert words in dns_label_problem(name)


def test_dns_label_problem_refuses_a_final_newline():
    assert dns_label_problem("team\n") != ""


def test_composed_names_give_the_longest_name_per_pool_and_namespaces():
    names = [(c.name, c.path, c.what) for c in composed_names(_cluster("gb200", "research", 16))]
    assert names == [
        # the pods of the example JobSet over one NVLink domain (18 trays: indices 0 to 17)
        ("gb200-nvlink-workers-0-17-abcde", ("spec", "nodePools", 0, "name"),
         "example JobSet pod"),
        ("research", ("spec", "tenants", 0, "name"), "Namespace"),
    ]


def test_rule_reports_a_composed_name_that_is_too_long():
    pool = "p" * 38  # a valid label; "-nvlink-workers-0-17-abcde" makes it 64
    found = list(kubernetes_names.check(_cluster(pool, "research", racks=1)))
    assert [(f.code, f.path) for f in found] == [("AF374", ("spec", "nodePools", 0, "name"))]
    assert "example JobSet pod" in found[0].message and "64 characters" in found[0].message


def test_rule_is_quiet_when_composed_names_just_fit():
    assert list(kubernetes_names.check(_cluster("p" * 37, "t" * 63, racks=999))) == []
