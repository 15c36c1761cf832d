"""Reads AMD GPUs through envkit.host's Boundary: /dev/kfd, the KFD topology, amd-smi (rocm-smi when
amd-smi is missing) and the ROCm user space's version file.

The KFD topology (/sys/class/kfd/kfd/topology/nodes/N/properties) is the ground truth for how many
GPUs the ROCm runtime sees and their gfx target: it needs no tool, and amd-smi before ROCm 6.3 does
not report the target at all. The SMI tools add names, memory, bus ids and the driver version.
What this returns is a JSON object, stored as HostFacts.accelerators["rocm"] (facts.py reads it).
"""

from __future__ import annotations

import json
import re
from typing import Any

KFD = "/dev/kfd"
TOPOLOGY = "/sys/class/kfd/kfd/topology/nodes"
ROCM_VERSION_FILE = "/opt/rocm/.info/version"
AMD_SMI_STATIC = ("static", "--asic", "--bus", "--vram", "--driver", "--json")
ROCM_SMI_NAMES = ("--showproductname", "--json")
ROCM_SMI_DRIVER = ("--showdriverversion", "--json")
SMI_TIMEOUT = 30.0
# The unit amd-smi prints VRAM sizes in (its CLI converts MB for every GPU).
_UNIT_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "MIB": 1024**2, "GB": 1024**3, "GIB": 1024**3}


def collect(boundary: Any) -> dict[str, Any] | None:
    """The host's AMD GPUs as a JSON object; None when neither /dev/kfd nor a KFD GPU node exists."""
    nodes = kfd_gpu_nodes(boundary)
    has_kfd = bool(boundary.exists(KFD))
    if not has_kfd and not nodes:
        return None
    errors: list[str] = []
    smi_name, smi_gpus, driver = _smi(boundary, errors)
    gpus = _merge(nodes, smi_gpus)
    render = sorted((p for p in boundary.glob("/dev/dri/renderD*") if p.removeprefix("/dev/dri/renderD").isdigit()),
                    key=lambda p: int(p.removeprefix("/dev/dri/renderD")))
    version = (boundary.read_text(ROCM_VERSION_FILE) or "").strip() or None
    return {
        "kfd": has_kfd,
        "device_nodes": ([KFD] if has_kfd else []) + render,
        "gpus": gpus,
        "rocm_version": version,
        "driver_version": driver,
        "smi": smi_name,
        "errors": errors,
    }


# --- KFD topology ------------------------------------------------------------------------------


def gfx_name(target_version: int) -> str | None:
    """KFD's gfx_target_version (major*10000 + minor*100 + stepping) as an LLVM target: 90402 -> gfx942,
    110000 -> gfx1100, 90010 -> gfx90a (the stepping is a hex digit). 0 (a CPU node) -> None."""
    if target_version <= 0:
        return None
    major, minor, stepping = target_version // 10000, (target_version // 100) % 100, target_version % 100
    if minor > 9 or stepping > 15:
        return None
    return f"gfx{major}{minor}{stepping:x}"


def parse_properties(text: str) -> dict[str, int]:
    """A KFD properties file: one "key value" pair a line, every value an integer."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and value.strip().lstrip("-").isdigit():
            out[key] = int(value.strip())
    return out


def kfd_gpu_nodes(boundary: Any) -> list[dict[str, Any]]:
    """The KFD topology's GPU nodes (a CPU node has no SIMDs and gfx_target_version 0), by node id."""
    found = []
    for path in boundary.glob(f"{TOPOLOGY}/*/properties"):
        node = path.removeprefix(TOPOLOGY + "/").split("/")[0]
        if not node.isdigit():
            continue
        props = parse_properties(boundary.read_text(path) or "")
        gfx = gfx_name(props.get("gfx_target_version", 0))
        if not props.get("simd_count") or gfx is None:
            continue
        location, domain = props.get("location_id"), props.get("domain", 0)
        found.append({
            "node": int(node),
            "gfx": gfx,
            "device_id": f"0x{props['device_id']:04x}" if "device_id" in props else None,
            "bdf": _bdf(domain, location) if location is not None else None,
            "render_minor": props.get("drm_render_minor"),
        })
    return sorted(found, key=lambda n: n["node"])


def _bdf(domain: int, location: int) -> str:
    # KFD packs bus/device/function as PCI does: bus << 8 | device << 3 | function.
    return f"{domain:04x}:{location >> 8:02x}:{(location >> 3) & 0x1F:02x}.{location & 0x7:x}"


# --- amd-smi / rocm-smi ------------------------------------------------------------------------


def _smi(boundary: Any, errors: list[str]) -> tuple[str | None, list[dict[str, Any]], str | None]:
    """(tool used, its GPUs, driver version): amd-smi first, rocm-smi when amd-smi is absent or fails."""
    amd = boundary.which("amd-smi")
    if amd:
        result = boundary.run([amd, *AMD_SMI_STATIC], timeout=SMI_TIMEOUT)
        gpus, driver, problem = parse_amd_smi_static(result.stdout if result is not None and result.returncode == 0 else None)
        if not problem:
            return "amd-smi", gpus, driver
        errors.append(f"amd-smi {' '.join(AMD_SMI_STATIC)}: {problem}")
    rocm = boundary.which("rocm-smi")
    if rocm:
        result = boundary.run([rocm, *ROCM_SMI_NAMES], timeout=SMI_TIMEOUT)
        gpus, problem = parse_rocm_smi_names(result.stdout if result is not None and result.returncode == 0 else None)
        if problem:
            errors.append(f"rocm-smi {' '.join(ROCM_SMI_NAMES)}: {problem}")
            return None, [], None
        result = boundary.run([rocm, *ROCM_SMI_DRIVER], timeout=SMI_TIMEOUT)
        return "rocm-smi", gpus, parse_rocm_smi_driver(result.stdout if result is not None and result.returncode == 0 else None)
    return None, [], None


def _known(value: Any) -> Any:
    return None if value in (None, "", "N/A", "n/a") else value


def _vram_bytes(size: Any) -> int | None:
    """amd-smi's vram.size: {"value": 196592, "unit": "MB"} in JSON, "196592 MB" in older text."""
    if isinstance(size, dict):
        value, unit = size.get("value"), str(size.get("unit") or "MB")
    elif isinstance(size, str) and (m := re.fullmatch(r"\s*(\d+)\s*([A-Za-z]+)\s*", size)):
        value, unit = int(m[1]), m[2]
    else:
        value, unit = size, "MB"
    factor = _UNIT_BYTES.get(unit.upper())
    return int(value) * factor if isinstance(value, (int, float)) and factor else None


def parse_amd_smi_static(text: str | None) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """`amd-smi static ... --json`: (GPUs, driver version, problem). ROCm 6.x prints a list of per-GPU
    objects; newer amd-smi nests that list under "gpu_data"."""
    if text is None:
        return [], None, "did not run"
    try:
        data = json.loads(text)
    except ValueError:
        return [], None, "its output is not JSON"
    if isinstance(data, dict):
        data = data.get("gpu_data")
    if not isinstance(data, list):
        return [], None, "its JSON holds no list of GPUs"
    gpus, drivers = [], []
    for entry in data:
        if not isinstance(entry, dict):
            continue
        asic = entry.get("asic") if isinstance(entry.get("asic"), dict) else {}
        bus = entry.get("bus") if isinstance(entry.get("bus"), dict) else {}
        vram = entry.get("vram") if isinstance(entry.get("vram"), dict) else {}
        driver = entry.get("driver") if isinstance(entry.get("driver"), dict) else {}
        if _known(driver.get("version")):
            drivers.append(str(driver["version"]))
        gpus.append({
            "index": entry.get("gpu"),
            "name": _known(asic.get("market_name")),
            "gfx": _known(asic.get("target_graphics_version")),
            "device_id": _known(asic.get("device_id")),
            "bdf": _known(bus.get("bdf")),
            "compute_units": _known(asic.get("num_compute_units")),
            "memory_total_bytes": _vram_bytes(vram.get("size")),
        })
    return gpus, (drivers[0] if drivers else None), None


def parse_rocm_smi_names(text: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """`rocm-smi --showproductname --json`: {"card0": {"Card Series": ..., "GFX Version": ..., "Node ID": ...}}
    (older rocm-smi spells "Card series" and prints no GFX Version)."""
    if text is None:
        return [], "did not run"
    try:
        data = json.loads(text)
    except ValueError:
        return [], "its output is not JSON"
    if not isinstance(data, dict):
        return [], "its JSON is not an object of cards"
    gpus = []
    for key, card in sorted(data.items(), key=lambda kv: _card_index(kv[0])):
        if not key.startswith("card") or not isinstance(card, dict):
            continue  # rocm-smi adds a "system" object beside the cards
        fields = {k.lower(): v for k, v in card.items()}
        node = str(fields.get("node id") or "")
        gpus.append({
            "index": _card_index(key),
            "name": _known(fields.get("card series")),
            "gfx": _known(fields.get("gfx version")),
            "device_id": _known(fields.get("card model")),
            "node": int(node) if node.isdigit() else None,
        })
    return gpus, None


def _card_index(key: str) -> int:
    digits = key.removeprefix("card")
    return int(digits) if digits.isdigit() else 1 << 30


def parse_rocm_smi_driver(text: str | None) -> str | None:
    """`rocm-smi --showdriverversion --json`: {"system": {"Driver version": "6.10.5"}}."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    system = data.get("system") if isinstance(data, dict) else None
    return _known(system.get("Driver version")) if isinstance(system, dict) else None


# --- one list of GPUs ---------------------------------------------------------------------------


def _merge(nodes: list[dict[str, Any]], smi: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """KFD's GPUs (count and gfx) named by the SMI tool: matched by KFD node (rocm-smi's Node ID), then by
    bus id (amd-smi), then by order. Without a KFD topology (a container without /sys) the tool's list."""
    if not nodes:
        return [{k: v for k, v in g.items() if k != "node"} | {"index": i} for i, g in enumerate(smi)]
    by_node = {g["node"]: g for g in smi if g.get("node") is not None}
    by_bdf = {str(g["bdf"]).lower(): g for g in smi if g.get("bdf")}
    out = []
    for i, node in enumerate(nodes):
        match = by_node.get(node["node"]) or by_bdf.get(str(node.get("bdf")).lower()) or (smi[i] if i < len(smi) else {})
        out.append({
            "index": i,
            "name": match.get("name"),
            "gfx": node["gfx"],  # the runtime's target, even when the tool reports none
            "device_id": node.get("device_id") or match.get("device_id"),
            "bdf": node.get("bdf") or match.get("bdf"),
            "kfd_node": node["node"],
            "compute_units": match.get("compute_units"),
            "memory_total_bytes": match.get("memory_total_bytes"),
        })
    return out
