"""Tenants declare the peers they need (spec.tenants[].network): NetworkPolicies over the
default deny that name exactly those peers and ports, and nothing for tenants that declare none."""

from __future__ import annotations

from pathlib import Path

import yaml

from aifab.expand import expand, tenants
from aifab.pipeline import run
from aifab.verify import policies
from bundled import BLUEPRINTS, variant

INGRESS = {"namespaces": ["ingress-nginx"], "cidrs": ["10.40.0.0/24"], "ports": [8000, 8443]}
EGRESS = {"cidrs": ["192.168.50.0/24"], "ports": [443], "protocol": "TCP"}


def _with_peers(data) -> None:
    tenant = next(t for t in data["spec"]["tenants"] if t["name"] == "public-research")
    tenant["network"] = {"ingress": [INGRESS], "egress": [EGRESS]}


def test_declared_peers_become_narrow_network_policies(tmp_path: Path) -> None:
    cluster = variant(tmp_path, _with_peers)
    out = {o.path: o.data for o in tenants.expand(cluster)}
    ingress = out["tenants/public-research/networkpolicy-allow-ingress.yaml"]["spec"]
    assert ingress == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{
        "from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "ingress-nginx"}}},
                 {"ipBlock": {"cidr": "10.40.0.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 8000}, {"protocol": "TCP", "port": 8443}]}]}
    egress = out["tenants/public-research/networkpolicy-allow-egress.yaml"]["spec"]
    assert egress["policyTypes"] == ["Egress"]
    assert egress["egress"] == [{"to": [{"ipBlock": {"cidr": "192.168.50.0/24"}}],
                                 "ports": [{"protocol": "TCP", "port": 443}]}]
    # the other tenant declared nothing: default deny, same namespace, DNS and monitoring only
    assert not any(p.startswith("tenants/foundation-models/networkpolicy-allow-") and
                   p.rsplit("-", 1)[1] in ("ingress.yaml", "egress.yaml") for p in out)
    # the default deny stays, and no output policy objects to the new rules
    assert "tenants/public-research/networkpolicy-default-deny.yaml" in out
    outputs = expand(cluster)
    assert list(policies.check(outputs, cluster, "generated/x")) == []


def test_an_ingress_rule_must_name_its_peers(tmp_path: Path) -> None:
    data = yaml.safe_load((BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8"))
    data["spec"]["tenants"][0]["network"] = {"ingress": [{"ports": [80]}]}
    path = tmp_path / "open.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = run(path)
    assert not result.ok
    found = [(f.code, f.path) for f in result.findings if f.is_error]
    assert found and all(code != "AF201" and "ingress" in path for code, path in found), found


def test_a_port_written_as_a_float_is_refused_at_its_line(tmp_path: Path) -> None:
    for direction, rule in (("ingress", {"namespaces": ["ingress-nginx"], "ports": [8000.0]}),
                            ("egress", {"cidrs": ["10.60.0.0/24"], "ports": [443.0]})):
        data = yaml.safe_load((BLUEPRINTS / "gwangju-gb200.yaml").read_text(encoding="utf-8"))
        data["spec"]["tenants"][0]["network"] = {direction: [rule]}
        path = tmp_path / f"{direction}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        found = [(f.code, f.path) for f in run(path).findings if f.is_error]
        assert found == [("AF204", ("spec", "tenants", 0, "network", direction, 0, "ports", 0))]
