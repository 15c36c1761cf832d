"""Reads Ascend NPUs and CANN through envkit.host's Boundary: /dev/davinci* nodes, `npu-smi info`,
the driver's version.info and CANN's set_env.sh/version files."""

from __future__ import annotations

import re

from envkit.accel.ascend.facts import AscendFacts, CannFacts, NpuChipFacts, NpuSmiFacts
from envkit.host import Boundary

NPU_SMI_TIMEOUT_S = 10.0
ASCEND_ROOT = "/usr/local/Ascend"
# Where CANN installs its activation script: the classic toolkit layout, the newer `cann/`
# layout (torch_npu 2.14 README) and the inference-only nnae package (research/ascend.md §3.4).
SET_ENV_CANDIDATES = (
    f"{ASCEND_ROOT}/ascend-toolkit/set_env.sh",
    f"{ASCEND_ROOT}/cann/set_env.sh",
    f"{ASCEND_ROOT}/nnae/set_env.sh",
)
NPU_SMI_PATHS = ("/usr/local/bin/npu-smi", "/usr/local/sbin/npu-smi")


def detect_ascend(b: Boundary) -> tuple[AscendFacts, list[str]]:
    nodes = sorted(set(b.glob("/dev/davinci*")) | {p for p in ("/dev/devmm_svm", "/dev/hisi_hdc") if b.exists(p)})
    npu_smi = _npu_smi(b)
    facts = AscendFacts(
        device_nodes=tuple(nodes),
        npu_smi=npu_smi,
        driver_version=parse_version_info(b.read_text(f"{ASCEND_ROOT}/driver/version.info") or ""),
        cann=_cann(b),
    )
    return facts, ascend_warnings(facts)


def _npu_smi(b: Boundary) -> NpuSmiFacts | None:
    path = b.which("npu-smi") or next((p for p in NPU_SMI_PATHS if b.exists(p)), None)
    if path is None:
        return None
    result = b.run([path, "info"], timeout=NPU_SMI_TIMEOUT_S)
    if result is None:
        return NpuSmiFacts(path=path, error="npu-smi could not be started")
    if result.returncode != 0:
        return NpuSmiFacts(path=path, error=f"`npu-smi info` exited {result.returncode}")
    version, chips = parse_npu_smi_info(result.stdout)
    error = None if chips else "no NPU rows found in `npu-smi info` output"
    return NpuSmiFacts(path=path, version=version, chips=chips, error=error)


_NPU_SMI_HEADER = re.compile(r"npu-smi\s+\S+\s+Version:\s*(\S+)")
# "| 0     910B3               | OK            | 96.1        38      ..." (NPU id, name, health)
_NPU_ROW = re.compile(r"^\|\s*(\d+)\s+(\S+)\s*\|\s*([A-Za-z][\w-]*)\s*\|")
# "| 0                         | 0000:C1:00.0  | 0   0    / 0          3159 / 65536         |"
_CHIP_ROW = re.compile(r"^\|\s*\d+(?:\s+\d+)?\s*\|\s*[0-9A-Fa-fx:.]+\s*\|(.*)\|\s*$")
_USED_TOTAL = re.compile(r"(\d+)\s*/\s*(\d+)")


def parse_npu_smi_info(text: str) -> tuple[str | None, tuple[NpuChipFacts, ...]]:
    """Version and one entry per chip row pair of `npu-smi info`'s table.

    The second row of each pair ends with HBM-Usage(MB) "used / total". Parsing stops at the
    process table, whose rows look like chip rows.
    """
    header = _NPU_SMI_HEADER.search(text)
    chips: list[NpuChipFacts] = []
    pending: tuple[str, str] | None = None
    for line in text.splitlines():
        if "Process id" in line or "Process name" in line:
            break
        row = _NPU_ROW.match(line)
        if row and not _CHIP_ROW.match(line):
            pending = (row.group(2), row.group(3))
            continue
        chip = _CHIP_ROW.match(line)
        if chip and pending:
            pairs = _USED_TOTAL.findall(chip.group(1))
            hbm = int(pairs[-1][1]) if pairs else None
            chips.append(NpuChipFacts(index=len(chips), name=pending[0], health=pending[1], hbm_total_mb=hbm))
            pending = None
    return (header.group(1) if header else None), tuple(chips)


def parse_version_info(text: str) -> str | None:
    """`Version=24.1.rc2` line of /usr/local/Ascend/driver/version.info."""
    m = re.search(r"^\s*Version\s*=\s*(\S+)", text, re.MULTILINE)
    return m.group(1) if m else None


def _cann(b: Boundary) -> CannFacts:
    env = b.env
    set_env = [p for p in SET_ENV_CANDIDATES if b.exists(p)]
    set_env += [p for p in b.glob(f"{ASCEND_ROOT}/cann-*/set_env.sh") if p not in set_env]
    version, version_file = _cann_version(b)
    return CannFacts(
        version=version,
        version_file=version_file,
        set_env=tuple(set_env),
        home_path=env.get("ASCEND_HOME_PATH") or None,
        opp_path=env.get("ASCEND_OPP_PATH") or None,
    )


def _cann_homes(b: Boundary) -> list[str]:
    env = b.env
    homes = [env.get("ASCEND_HOME_PATH"), env.get("ASCEND_TOOLKIT_HOME"), f"{ASCEND_ROOT}/ascend-toolkit/latest", f"{ASCEND_ROOT}/cann"]
    homes += sorted(b.glob(f"{ASCEND_ROOT}/cann-*"), reverse=True)
    homes.append(f"{ASCEND_ROOT}/nnae/latest")
    seen: list[str] = []
    for h in homes:
        if h and h.rstrip("/") not in seen:
            seen.append(h.rstrip("/"))
    return seen


def _cann_version(b: Boundary) -> tuple[str | None, str | None]:
    """The first home with a readable version wins: the sourced one, then the default layouts.

    version.cfg lines look like `toolkit_running_version=[7.3.0.1.231:8.0.RC2]` (seen in public
    docs). `<arch>-linux/ascend_toolkit_install.info` (`version=`) and `version.info`
    (`Version=`) are fallbacks seen only in third-party scripts: UNVERIFIED layouts.
    """
    for home in _cann_homes(b):
        path = f"{home}/version.cfg"
        version = parse_version_cfg(b.read_text(path) or "")
        if version:
            return version, path
        for path in b.glob(f"{home}/*-linux/ascend_toolkit_install.info"):
            m = re.search(r"^\s*version\s*=\s*(\S+)", b.read_text(path) or "", re.MULTILINE)
            if m:
                return m.group(1), path
        path = f"{home}/version.info"
        version = parse_version_info(b.read_text(path) or "")
        if version:
            return version, path
    return None, None


def parse_version_cfg(text: str) -> str | None:
    """`toolkit_running_version=[7.3.0.1.231:8.0.RC2]` -> '8.0.RC2' (any *_running_version as fallback)."""
    for key in (r"toolkit_running_version", r"\w+_running_version"):
        m = re.search(rf"^\s*{key}\s*=\s*\[(?:[^:\]]*:)?([^\]]+)\]", text, re.MULTILINE)
        if m:
            return m.group(1).strip()
    return None


def ascend_warnings(facts: AscendFacts) -> list[str]:
    if not facts.present():
        return []
    warnings = []
    if not facts.chip_nodes():
        warnings.append(f"npu-smi is installed ({facts.npu_smi.path if facts.npu_smi else '?'}) but there is no /dev/davinciN "
                        "device node: the NPU driver is not loaded, or this container was started without "
                        "--device /dev/davinciN; the suggested profile is therefore not atlas-a2")
    if facts.npu_smi is None:
        warnings.append("Ascend device nodes exist but npu-smi was not found (/usr/local/bin or PATH)")
    elif facts.npu_smi.error:
        warnings.append(f"npu-smi at {facts.npu_smi.path}: {facts.npu_smi.error}")
    cann = facts.cann
    if not cann.set_env:
        warnings.append(f"no CANN set_env.sh found under {ASCEND_ROOT} (ascend-toolkit/, cann/, nnae/); install the CANN toolkit")
    elif cann.home_path is None:
        warnings.append(
            f"CANN is not sourced in this shell (ASCEND_HOME_PATH is unset); run `source {cann.set_env[0]}` "
            "before using torch_npu"
        )
    return warnings
