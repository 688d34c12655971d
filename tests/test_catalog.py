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
    assert catalog.version == "2026.12.0"
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
    assert catalog.systems["dgx-b200"].su_nodes == 32  # D5: 4 SU = 128 nodes
    assert catalog.systems["gb200-nvl72"].su_racks == 8


def test_cpu_architectures(catalog):
    arm = {s.id for s in catalog.systems.values() if s.cpu_architecture == "arm64"}
    assert arm == {"gb200-nvl72", "gb300-nvl72"}  # Grace trays; every other system is x86_64
    assert {s.cpu_architecture for s in catalog.systems.values()} == {"amd64", "arm64"}


def test_fabric_designs_are_the_reference_architecture_tables(catalog):
    """D5 (B200) and D7 (B300 Spectrum-X, XDR): the rows as the RAs print them."""
    def rows(designs):
        return [(d.sus, d.leaf, d.spine, d.core) for d in designs]

    assert rows(catalog.systems["dgx-b200"].fabric_designs) == [
        (2, 16, 8, 0), (4, 32, 16, 0), (8, 64, 32, 0), (16, 128, 128, 64), (32, 256, 256, 128),
        (64, 512, 512, 256)]
    b300 = catalog.systems["dgx-b300"]
    assert rows(b300.fabric_designs)[:4] == [(1, 16, 8, 0), (2, 32, 16, 0), (4, 64, 32, 0),
                                             (8, 128, 64, 0)]
    assert rows(b300.fabric_designs_xdr) == [(1, 8, 4, 0), (2, 16, 8, 0), (4, 32, 18, 0),
                                             (8, 64, 36, 0), (18, 144, 72, 0)]
    assert catalog.systems["gb200-nvl72"].fabric_designs == ()  # not in the fact base


def test_unsourced_values_are_unverified(catalog):
    """Values aifab cannot trace to a document it names are marked (issue 16, fact 6)."""
    assert not catalog.systems["gb200-nvl72"].facts["powerKWPerRack"].verified
    for key in ("computeNics", "computeNicGbps", "computeNicModel"):
        assert not catalog.systems["hgx-b300"].facts[key].verified, key
    for where, fact in all_facts(catalog):
        if fact.source == "S" and fact.value is not None and not where.endswith(
                (".name", ".gpu", ".form", ".cooling", ".placeholders", ".suNodes", ".suRacks",
                 ".nodesPerRack", ".nodesPerNvlinkDomain", ".gpusPerNode")):
            assert not fact.verified, where


def test_usable_memory_beside_nominal(catalog):
    for gpu_id, usable in (("b300", 269), ("gb300", 278)):
        gpu = catalog.gpus[gpu_id]
        assert gpu.memory_gb == 288 and gpu.facts["memoryUsableGB"].value == usable
        assert f"7g.{usable}gb" in gpu.mig_profiles  # the whole-GPU instance


def test_power(catalog):
    gb200 = catalog.systems["gb200-nvl72"]
    assert gb200.power_kw(18) == 132
    assert gb200.power_kw(19) == 2 * 132  # whole racks
    assert gb200.power_kw(16 * 18) == 16 * 132
    assert math.isclose(catalog.systems["dgx-b200"].power_kw(32), 32 * 14.3)
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
    assert {"v25.3.0", "v25.3.1", "v25.3.2", "v25.3.3", "v25.3.4", "v25.10.0", "v26.3.0", "v26.3.1",
            "v26.3.2", "v26.3.3", "v26.7.0"} <= set(releases)
    assert releases["v26.3.0"].supports_kubernetes("1.34")  # the reference blueprint
    assert releases["v26.7.0"].supports_kubernetes("1.34.2")
    assert not releases["v25.3.0"].supports_kubernetes("1.33")
    # platform-support.rst at each docs tag (R1)
    ranges = {v: (r.kubernetes_min, r.kubernetes_max) for v, r in releases.items()}
    assert ranges["v25.10.0"] == ("1.30", "1.34")
    assert ranges["v26.3.0"] == ranges["v26.3.1"] == ("1.32", "1.35")
    assert ranges["v26.3.2"] == ranges["v26.3.3"] == ("1.32", "1.36")
    # deployments/gpu-operator/values.yaml driver.version at each tag
    defaults = {v: r.default_driver for v, r in releases.items()}
    assert defaults["v25.3.1"] == "570.148.08" and defaults["v25.3.4"] == "580.82.07"
    assert {defaults[f"v26.3.{n}"] for n in range(4)} == {"580.126.20"}
    assert releases["v26.7.0"].default_driver == "595.91.07"
    for release in releases.values():  # the default is one of the release's drivers
        assert release.default_driver in release.drivers, release.version
        assert len(set(release.drivers)) == len(release.drivers), release.version
    for gpu in catalog.gpus.values():
        assert gpu.id in releases[gpu.min_gpu_operator].new_gpus, gpu.id
    assert "v26.4.1" in catalog.network_operator_versions
    assert "v0.19.2" in catalog.kueue_versions
    assert catalog.features["cdmm"]["driverThreshold"] == "580.65.06"
    assert catalog.charts["gpu-operator"]["repo"] == "https://helm.ngc.nvidia.com/nvidia"


def test_driver_and_operator_floors(catalog):
    """MIG user guide, Deployment Considerations (D9); GPU Operator platform support (R1)."""
    gpus = catalog.gpus
    assert gpus["b200"].min_driver_mig == gpus["gb200"].min_driver_mig == "570.133.20"
    assert gpus["b300"].min_driver_mig == "580.82.07"
    rtx = gpus["rtx-pro-6000-bse"]
    assert (rtx.min_gpu_operator, rtx.min_driver) == ("v25.3.1", "575.57.08")
    assert rtx.min_gpu_operator_mig == "v25.3.4"
    assert catalog.gpu_operator_releases["v25.3.4"].default_driver == "580.82.07"
    for gpu in gpus.values():
        assert version_tuple(gpu.min_gpu_operator_mig) >= version_tuple(gpu.min_gpu_operator)
    assert catalog.features["computeDomain"]["minDriver"] == "570.158.01"  # R4 v25.12.0


def test_rtx_pro_media_extension_profile(catalog):
    rtx = catalog.gpus["rtx-pro-6000-bse"]
    assert rtx.mig_profiles["1g.24gb+me"].max_instances == 1
    assert dict(rtx.mig_configs["all-1g.24gb.me"]) == {"1g.24gb+me": 1}


# Every fact of compatibility.yaml `features` and the module that reads it (issue 16: a fact
# nothing reads is used or removed). API versions are not catalog facts: the CRDs verify them.
FEATURE_READERS = {
    ("cdmm", "driverThreshold"): "check/cdmm.py",
    ("cdmm", "warnWith"): "check/cdmm.py",
    ("computeDomain", "minDriver"): "check/driver.py",
    ("computeDomain", "requiresCdi"): "check/compute_domains.py",
    ("computeDomain", "minKubernetes"): "check/compute_domains.py",
    ("computeDomain", "draBeta"): "check/compute_domains.py",
    ("computeDomain", "systems"): "check/compute_domains.py",
    ("mps", "withMig"): "check/sharing.py",
    ("timeSlicing", "minReplicas"): "check/sharing.py",
    ("gpuCluster", "minOperator"): "expand/gpu_operator.py",
    ("kernelModuleType", "allowed"): "check/kernel_modules.py",
}


def test_every_catalog_feature_fact_is_read(catalog):
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "src" / "aifab"
    facts = {(name, key) for name, entry in catalog.features.items()
             for key in entry if key not in ("source", "note")}
    assert facts == set(FEATURE_READERS)
    for (name, key), reader in FEATURE_READERS.items():
        text = (package / reader).read_text(encoding="utf-8")
        assert f'["{name}"]' in text and f'["{key}"]' in text, (name, key, reader)


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


def test_catalog_command_shows_the_new_facts(catalog):
    """`aifab catalog SYSTEM` (issue 16): architecture, storage NICs, the RA's switch table, the
    MIG operator minimum and usable memory."""
    text = describe_system(catalog, "dgx-b200")
    assert "cpuArchitecture" in text and "amd64" in text and "BlueField-3" in text
    lines = text.splitlines()
    table = lines.index(next(line for line in lines if line.startswith("fabricDesigns of")))
    assert lines[table + 1].split() == ["SU", "NODES", "LEAF", "SPINE", "CORE"]
    assert lines[table + 3].split() == ["4", "128", "32", "16", "-"]
    assert lines[table + 5].split() == ["16", "512", "128", "128", "64"]
    assert "minGpuOperatorMig" in text
    gb300 = describe_system(catalog, "gb300-nvl72")
    assert "arm64" in gb300 and "memoryUsableGB" in gb300 and "278" in gb300
    assert "fabricDesignsXdr of dgx-b300" in describe_system(catalog, "dgx-b300")
    assert " ARCH " in systems_table(catalog)


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
