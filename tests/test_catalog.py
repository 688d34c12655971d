"""Tests of the hardware/software catalog: completeness, sources, rules, upstream MIG configs."""

from __future__ import annotations

import dataclasses
import math

import pytest
import yaml

from aifab.catalog import CONFIDENCES, load_catalog, version_tuple
from aifab.catalog.report import describe_system, systems_table
from bundled import REFERENCE, reference

MIG_PARTED = REFERENCE / "chart-values" / "gpu-operator-v26.7.0.default-mig-parted-config.yaml"

SYSTEMS = {
    "dgx-b200",
    "hgx-b200",
    "dgx-b300",
    "hgx-b300",
    "gb200-nvl72",
    "gb300-nvl72",
    "rtx-pro-6000-bse",
}
GPUS = {"b200", "gb200", "b300", "gb300", "rtx-pro-6000-bse"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def all_facts(catalog):
    for gpu in catalog.gpus.values():
        for key, fact in gpu.facts.items():
            yield f"gpus.{gpu.id}.{key}", fact
    for system in catalog.systems.values():
        for key, fact in system.facts.items():
            yield f"systems.{system.id}.{key}", fact


def test_all_systems_and_gpus_load(catalog):
    assert set(catalog.systems) == SYSTEMS
    assert set(catalog.gpus) == GPUS
    assert catalog.version == "2026.11.0"
    assert load_catalog() is catalog  # cached


def test_every_source_key_exists(catalog):
    for where, fact in all_facts(catalog):
        assert fact.source in catalog.sources, where
        assert fact.confidence in CONFIDENCES, where
    for release in catalog.gpu_operator_releases.values():
        assert release.source in catalog.sources, release.version
    for section in (catalog.features, catalog.charts):
        for name, item in section.items():
            assert item["source"] in catalog.sources, name
    for key, source in catalog.sources.items():
        assert source.title, key
        assert source.url is None if key == "S" else source.url.startswith("https://"), key


def test_unverified_facts_say_why(catalog):
    for where, fact in all_facts(catalog):
        if not fact.verified:
            assert fact.note, f"{where} is unverified without a note"


def test_placeholder_rules(catalog):
    for system in catalog.systems.values():
        assert "node" in system.placeholders, system.id
        assert ("rack" in system.placeholders) == (system.nodes_per_rack is not None), system.id
        assert ("tray" in system.placeholders) == system.is_nvl_rack, system.id
        assert system.placeholders <= {"node", "rack", "tray"}, system.id


def test_system_shapes(catalog):
    for system in catalog.systems.values():
        assert system.gpu.id in GPUS
        assert system.cooling in {"liquid", "air", "any"}
        assert system.form in {"node", "nvl-rack"}
        if system.is_nvl_rack:
            assert system.gpus_per_rack == 72
            assert system.nodes_per_nvlink_domain == system.nodes_per_rack == 18
            assert system.power_kw_per_rack is not None and system.cooling == "liquid"
        else:
            assert system.nodes_per_nvlink_domain == 1
            assert system.power_kw_per_node is not None
    assert catalog.systems["gb200-nvl72"].gpu.grace and catalog.systems["gb300-nvl72"].gpu.grace
    assert catalog.systems["dgx-b200"].su_nodes == 31
    assert catalog.systems["gb200-nvl72"].su_racks == 8


def test_power(catalog):
    gb200 = catalog.systems["gb200-nvl72"]
    assert gb200.power_kw(18) == 132
    assert gb200.power_kw(19) == 2 * 132  # whole racks
    assert gb200.power_kw(16 * 18) == 16 * 132
    assert math.isclose(catalog.systems["dgx-b200"].power_kw(31), 31 * 14.3)
    assert catalog.systems["gb300-nvl72"].power_kw(0) == 0
    with pytest.raises(ValueError):
        gb200.power_kw(-1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v26.3.0", (26, 3, 0)),
        ("580.126.20", (580, 126, 20)),
        ("1.34", (1, 34)),
        ("1.34.2", (1, 34, 2)),
        ("v0.19.2", (0, 19, 2)),
        (" 580 ", (580,)),
    ],
)
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


@pytest.mark.parametrize("text", ["", "v", "1.x", "1..2", "latest", "1.2-rc1"])
def test_version_tuple_rejects(text):
    with pytest.raises(ValueError):
        version_tuple(text)


def test_operator_releases(catalog):
    releases = catalog.gpu_operator_releases
    assert {"v25.3.0", "v25.3.2", "v25.3.4", "v25.10.0", "v26.3.0", "v26.7.0"} <= set(releases)
    assert releases["v26.3.0"].supports_kubernetes("1.34")  # the reference blueprint
    assert releases["v26.7.0"].supports_kubernetes("1.34.2")
    assert not releases["v25.3.0"].supports_kubernetes("1.33")
    assert releases["v26.3.0"].default_driver == "580.126.20"
    assert releases["v26.7.0"].default_driver == "595.91.07"
    for gpu in catalog.gpus.values():
        assert gpu.id in releases[gpu.min_gpu_operator].new_gpus, gpu.id
    assert "v26.4.1" in catalog.network_operator_versions
    assert "v0.19.2" in catalog.kueue_versions
    assert catalog.features["kueue"]["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert catalog.features["cdmm"]["driverThreshold"] == "580.65.06"
    assert catalog.charts["gpu-operator"]["repo"] == "https://helm.ngc.nvidia.com/nvidia"


def test_mig_profiles_and_configs_are_consistent(catalog):
    for gpu in catalog.gpus.values():
        assert gpu.device_filter == f"{gpu.device_id}10DE", gpu.id
        assert version_tuple(gpu.min_driver_mig) >= version_tuple(gpu.min_driver), gpu.id
        assert {"all-disabled", "all-balanced"} <= set(gpu.mig_configs), gpu.id
        assert gpu.mig_configs["all-disabled"] == {}
        for profile in gpu.mig_profiles.values():
            assert profile.name.split(".")[1].startswith(f"{profile.memory_gb}gb"), profile.name
            assert 1 <= profile.max_instances <= 7
        for name, devices in gpu.mig_configs.items():
            for profile, count in devices.items():
                assert profile in gpu.mig_profiles, (gpu.id, name, profile)
                assert 1 <= count <= gpu.mig_profiles[profile].max_instances, (gpu.id, name)


def test_catalog_is_immutable(catalog):
    system = catalog.systems["dgx-b200"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        system.gpus_per_node = 4
    with pytest.raises(TypeError):
        catalog.systems["x"] = system
    with pytest.raises(TypeError):
        system.gpu.mig_configs["all-balanced"]["1g.23gb"] = 7


def test_reports(catalog):
    table = systems_table(catalog)
    assert table == systems_table(catalog)
    lines = table.splitlines()
    assert len(lines) == 1 + len(SYSTEMS) + 1
    assert all(any(line.startswith(sid + " ") for line in lines) for sid in SYSTEMS)
    text = describe_system(catalog, "rtx-pro-6000-bse")
    assert "(unverified)" in text and "all-balanced" in text and "1g.24gb" in text
    text = describe_system(catalog, "gb200-nvl72")
    assert "powerKWPerRack" in text and "3g.93gb" in text
    assert catalog.sources["D6"].title in text
    with pytest.raises(KeyError):
        describe_system(catalog, "no-such-system")


def upstream_valid_configs(mig_parted: dict, device_filter: str, profiles) -> dict:
    """gpus.yaml's rule: the GPU's entry (device-filter, else unfiltered) uses only its profiles."""
    valid = {}
    for name, entries in mig_parted["mig-configs"].items():
        entry = None
        for candidate in entries:
            filters = candidate.get("device-filter")
            if isinstance(filters, str):
                filters = [filters]
            if filters is None:
                entry = entry or candidate
            elif device_filter.upper() in {f.upper() for f in filters}:
                entry = candidate
                break
        if entry is None:
            continue
        devices = dict(entry.get("mig-devices") or {}) if entry.get("mig-enabled") else {}
        if all(profile in profiles for profile in devices):
            valid[name] = devices
    return valid


def test_mig_configs_match_upstream(catalog):
    configmap = yaml.safe_load(reference(MIG_PARTED).read_text(encoding="utf-8"))
    mig_parted = yaml.safe_load(configmap["data"]["config.yaml"])
    for gpu in catalog.gpus.values():
        expected = upstream_valid_configs(mig_parted, gpu.device_filter, gpu.mig_profiles)
        actual = {name: dict(devices) for name, devices in gpu.mig_configs.items()}
        assert actual == expected, gpu.id
