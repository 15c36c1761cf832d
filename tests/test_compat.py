"""The compatibility matrix: data integrity and the queries other modules rely on."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from envkit.accel.ascend.matrix import CannVersion, npu_table
from envkit.accel.cuda.arch import capability_supported, driver_at_least
from envkit.accel.cuda.matrix import CudaBuild, DriverFloor, cuda_table
from envkit.compat import matrix
from envkit.errors import EnvkitError


SINCE_0_11_1 = ["0.11.1", "0.12.0", "0.13.0", "0.14.0", "0.15.0", "0.16.0", "0.17.0"]


@pytest.fixture(scope="module")
def m():
    return matrix()


# ---------------------------------------------------------------------------------------
# CannVersion


def test_cann_order_from_the_brief() -> None:
    texts = [
        "8.0.RC2.alpha003", "8.0.RC2", "8.0.RC3", "8.0.0", "8.1.RC1", "8.3.RC1", "8.5.0", "9.0.0", "9.1.0",
    ]
    versions = [CannVersion(t) for t in texts]
    assert versions == sorted(versions)
    for lo, hi in zip(versions, versions[1:]):
        assert lo < hi and hi > lo and lo != hi


def test_cann_ga_patch_order_and_beta() -> None:
    assert CannVersion("8.0.0") < CannVersion("8.0.1")
    assert CannVersion("8.0.RC3.alpha001") < CannVersion("8.0.RC3.beta1") < CannVersion("8.0.RC3")
    assert CannVersion("8.0.RC10") > CannVersion("8.0.RC9")


@pytest.mark.parametrize("text", ["8.3.RC1", "8.0.RC2.alpha003", "9.1.0", "7.0.RC1.beta1"])
def test_cann_str_round_trips(text: str) -> None:
    assert str(CannVersion(text)) == text
    assert CannVersion(str(CannVersion(text))) == CannVersion(text)


def test_cann_lowercase_and_prefix() -> None:
    assert CannVersion("8.3.rc1") == CannVersion("8.3.RC1")
    assert str(CannVersion("8.3.rc1")) == "8.3.RC1"
    assert CannVersion("CANN 9.1.0") == "9.1.0"
    assert hash(CannVersion("8.3.rc1")) == hash(CannVersion("8.3.RC1"))


@pytest.mark.parametrize("bad", ["", "8", "8.3", "8.3.RC", "8.3.RC1.gamma2", "latest", "8.3.1.2"])
def test_cann_garbage_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid CANN version"):
        CannVersion(bad)


# ---------------------------------------------------------------------------------------
# torch / torchvision / Python


def test_torch_versions_ascending(m) -> None:
    vs = m.torch_versions()
    assert vs == sorted(vs, key=Version)
    assert {"2.7.1", "2.8.0", "2.10.0", "2.14.1"} <= set(vs)


@pytest.mark.parametrize(
    "torch,tv",
    [
        ("2.6.0", "0.21.0"), ("2.7.1", "0.22.1"), ("2.8.0", "0.23.0"),
        ("2.10.0", "0.25.0"), ("2.14.1", "0.29.1"),
    ],
)
def test_torchvision_pairing(m, torch: str, tv: str) -> None:
    assert m.torchvision_for(torch) == tv


def test_torchvision_for_local_label_and_unknown(m) -> None:
    assert m.torchvision_for("2.8.0+cu128") == "0.23.0"
    assert m.torchvision_for("1.0.0") is None


def test_unknown_torch_names_known_versions(m) -> None:
    with pytest.raises(EnvkitError) as err:
        m.torch("9.9.9")
    assert "9.9.9" in err.value.message and "2.8.0" in err.value.message
    assert err.value.fix


def test_torch_python(m) -> None:
    assert m.torch_python_ok("2.8.0", "3.10")
    assert m.torch_python_ok("2.8.0", "3.13.1")
    assert not m.torch_python_ok("2.8.0", "3.14")
    assert not m.torch_python_ok("2.9.0", "3.9")
    assert m.torch_python_ok("2.14.1", "3.11.7")
    assert not m.torch_python_ok("2.15.0", "3.10")


# ---------------------------------------------------------------------------------------
# torchcodec


def test_torchcodec_for_2_14_1_is_the_measured_range(m) -> None:
    assert m.torchcodec_for("2.14.1") == SINCE_0_11_1


def test_torchcodec_0_10_on_2_14_1_fails_with_measured_text(m) -> None:
    ok, reason = m.torchcodec_pairing("2.14.1", "0.10.0")
    assert not ok
    assert "_ZN3c1013MessageLoggerC1EPKciib" in reason


def test_torchcodec_for_2_8_0(m) -> None:
    assert m.torchcodec_for("2.8.0") == ["0.6.0", "0.7.0"]


def test_torchcodec_aarch64_needs_0_11(m) -> None:
    assert m.torchcodec_for("2.7.1", "aarch64") == []
    assert m.torchcodec_for("2.11.0", "linux-aarch64") == ["0.11.0", *SINCE_0_11_1]


def test_torchcodec_for_cu12_torch_drops_cuda13_wheels(m) -> None:
    assert m.torchcodec_for("2.11.0", build="cu128") == ["0.11.1", "0.12.0", "0.13.0"]


def test_torchcodec_pairing_readme(m) -> None:
    ok, reason = m.torchcodec_pairing("2.7.1", "0.5.0")  # PyPI publishes it as "0.5"
    assert ok and "README" in reason
    ok, reason = m.torchcodec_pairing("2.8.0", "0.5")
    assert not ok and "undefined symbol" in reason


def test_torchcodec_row(m) -> None:
    row = m.torchcodec("0.16.0")
    assert 9 in row.ffmpeg and row.aarch64 and row.ffmpeg_checked_at == "decode"
    assert m.torchcodec_versions() == sorted(m.torchcodec_versions(), key=Version)


# ---------------------------------------------------------------------------------------
# FFmpeg


def test_ffmpeg_sonames(m) -> None:
    assert m.ffmpeg_sonames(6)["avutil"] == 58
    assert m.ffmpeg_sonames(5) == {
        "avutil": 57, "avcodec": 59, "avformat": 59, "avdevice": 59,
        "avfilter": 8, "swscale": 6, "swresample": 4,
    }
    assert m.ffmpeg_major_for_avutil(60) == 8
    assert m.ffmpeg_major_for_avutil(99) is None
    with pytest.raises(EnvkitError):
        m.ffmpeg_sonames(3)


def test_pyav_backend_needs_video_reader(m) -> None:
    assert m.pyav_backend_ok("0.4.4", "0.25.0")[0]
    ok, reason = m.pyav_backend_ok("0.4.4", "0.26.0")
    assert not ok and "VideoReader" in reason
    assert m.pyav_backend_ok("0.6.1", "0.26.0")[0]


# ---------------------------------------------------------------------------------------
# CUDA builds, capabilities and drivers


def test_pypi_builds(m) -> None:
    assert m.pypi_build("2.7.1", "x86_64") == "cu126"
    assert m.pypi_build("2.8.0", "x86_64") == "cu128"
    assert m.pypi_build("2.8.0", "aarch64") == "cpu"
    assert m.pypi_build("2.11.0", "aarch64") == "cu130"


def test_torch_builds(m) -> None:
    builds = cuda_table(m).torch_builds("2.7.1")
    assert set(builds) == {"cpu", "cu126", "cu128"}
    assert isinstance(builds["cu128"], CudaBuild)
    assert builds["cu126"].index == "pypi" and builds["cu126"].verified
    assert builds["cu128"].index == "pytorch-cu128" and not builds["cu128"].verified
    assert builds["cpu"].cuda is None and builds["cpu"].index == "pytorch-cpu"
    assert cuda_table(m).torch_builds("2.8.0")["cu128"].index == "pypi"
    assert cuda_table(m).torch_builds("2.8.0", "aarch64")["cpu"].index == "pypi"
    # 2.12.0's wheel was never read: the shared arch list is inferred for it.
    assert not cuda_table(m).torch_builds("2.12.0")["cu130"].verified
    assert cuda_table(m).torch_builds("2.12.1")["cu130"].verified


def test_index_url_comes_from_data(m) -> None:
    assert m.index_url("pytorch-cu128").endswith("/whl/cu128")
    assert m.index_url("pytorch-cpu").endswith("/whl/cpu")
    with pytest.raises(EnvkitError):
        m.index_url("nope")


def test_capability_4090_on_cu128_via_sm86(m) -> None:
    ok, reason = capability_supported(cuda_table(m).torch_builds("2.8.0")["cu128"].archs, [], "8.9")
    assert ok and "sm_86" in reason


def test_capability_5090(m) -> None:
    ok, reason = capability_supported(cuda_table(m).torch_builds("2.7.1")["cu126"].archs, [], "12.0")
    assert not ok and "sm_90" in reason
    ok, reason = capability_supported(cuda_table(m).torch_builds("2.8.0")["cu128"].archs, [], "12.0")
    assert ok and "sm_120" in reason


def test_capability_1080ti(m) -> None:
    ok, reason = capability_supported(cuda_table(m).torch_builds("2.8.0")["cu128"].archs, [], "6.1")
    assert not ok and "starts at sm_70" in reason
    ok, reason = capability_supported(cuda_table(m).torch_builds("2.7.1")["cu126"].archs, [], "6.1")
    assert ok and "sm_60" in reason


def test_capability_major_boundary_and_ptx() -> None:
    assert not capability_supported(["sm_100"], [], "12.0")[0]  # different major
    ok, reason = capability_supported(["sm_90"], ["compute_90"], "12.0")
    assert ok and "compute_90" in reason
    assert not capability_supported(["sm_90"], ["compute_120"], "10.0")[0]
    assert not capability_supported(["sm_90a"], [], "9.1")[0]  # arch-specific cubin


def test_cuda_min_driver(m) -> None:
    f = cuda_table(m).min_driver("12.8")
    assert isinstance(f, DriverFloor)
    assert (f.toolkit_min, f.compat_floor, f.lerobot_floor) == ("570.26", "525.60.13", "570.86")
    assert "installation.mdx" in f.source
    f13 = cuda_table(m).min_driver("13.0")
    assert (f13.toolkit_min, f13.compat_floor) == ("580.65.06", "580.65.06")
    assert cuda_table(m).min_driver("cu128") == f
    assert cuda_table(m).min_driver("12.3").compat_floor == "525.60.13"  # unknown minor: floor only
    with pytest.raises(EnvkitError):
        cuda_table(m).min_driver("11.8")


def test_driver_at_least() -> None:
    assert driver_at_least("570.86.10", "570.86")
    assert driver_at_least("570.86", "570.86")
    assert not driver_at_least("570.26", "570.86")
    assert driver_at_least("590.48.01", "580.65.06")
    assert not driver_at_least("575.51.03", "580.65.06")
    with pytest.raises(EnvkitError):
        driver_at_least("n/a", "570")


# ---------------------------------------------------------------------------------------
# Ascend


@pytest.mark.parametrize(
    "cann,expected",
    [("8.3.RC1", "2.7.1"), ("8.3.rc1", "2.7.1"), ("8.5.0", "2.7.1.post2"), ("9.0.0", "2.7.1.post4"),
     ("9.1.0", "2.7.1.post8"), ("9.2.0", "2.7.1.post8"), ("8.2.RC1", None)],
)
def test_torch_npu_for(m, cann: str, expected: str | None) -> None:
    assert npu_table(m).torch_npu_for("2.7.1", cann) == expected


def test_torch_npu_for_accepts_cann_version_and_rejects_garbage(m) -> None:
    assert npu_table(m).torch_npu_for("2.8.0", CannVersion("8.5.0")) == "2.8.0.post2"
    with pytest.raises(EnvkitError):
        npu_table(m).torch_npu_for("2.8.0", "new")


def test_torch_npu_x86_cpu_local_rule(m) -> None:
    for version in ("2.3.1", "2.7.1", "2.9.0.post6", "2.10.0.post4", "2.11.0"):
        assert npu_table(m).row(version).x86_64_requires_cpu_local, version
    for version in ("2.1.0", "2.2.0", "2.12.0"):
        assert not npu_table(m).row(version).x86_64_requires_cpu_local, version
    assert npu_table(m).torch_requirement("2.7.1", "x86_64") == "torch==2.7.1+cpu"
    assert npu_table(m).torch_requirement("2.7.1", "aarch64") == "torch==2.7.1"
    assert npu_table(m).torch_requirement("2.12.0", "x86_64") == "torch==2.12.0"


def test_torch_npu_row(m) -> None:
    row = npu_table(m).row("2.7.1.post2")
    assert row.torch == "2.7.1" and row.cann == CannVersion("8.5.0")
    assert "3.12.4" in row.python and "3.13" not in row.python
    with pytest.raises(EnvkitError):
        npu_table(m).row("2.7.1.post11")  # on PyPI but absent from the CANN table


# ---------------------------------------------------------------------------------------
# lerobot


def test_lerobot_versions(m) -> None:
    assert m.lerobot_versions() == [
        "0.1.0", "0.3.2", "0.3.3", "0.4.0", "0.4.1", "0.4.2", "0.4.3", "0.4.4", "0.5.0", "0.5.1", "0.6.0", "0.6.1",
    ]


def _req(row, name: str) -> Requirement:
    return next(r for r in map(Requirement, row.requires) if r.name == name)


def test_lerobot_0_4_2(m) -> None:
    row = m.lerobot("0.4.2")
    torch = _req(row, "torch")
    assert "2.7.1" in torch.specifier and "2.8.0" not in torch.specifier
    assert "3.10" in row.requires_python
    assert row.train_entry == "lerobot-train"
    assert row.converter_v21_v30 == "python -m lerobot.datasets.v30.convert_dataset_v21_to_v30"
    assert row.device_module == "lerobot.utils.utils"
    assert row.codebase_version == "v3.0"
    codec = _req(row, "torchcodec")
    assert not codec.marker.evaluate({"sys_platform": "linux", "platform_machine": "aarch64"})
    assert codec.marker.evaluate({"sys_platform": "linux", "platform_machine": "x86_64"})


def test_lerobot_python_and_later_rows(m) -> None:
    assert "3.11" not in m.lerobot("0.5.0").requires_python
    assert "3.12" in m.lerobot("0.5.0").requires_python
    row = m.lerobot("0.5.1")
    assert row.converter_v21_v30 == "python -m lerobot.scripts.convert_dataset_v21_to_v30"
    assert row.device_module == "lerobot.utils.device_utils"
    assert m.lerobot("0.1.0").train_entry == "python lerobot/scripts/train.py"
    assert m.lerobot("0.3.3").codebase_version == "v2.1" and m.lerobot("0.3.3").converter_v21_v30 is None


def test_lerobot_0_6_torchcodec_lives_in_the_dataset_extra(m) -> None:
    codecs = [r for r in map(Requirement, m.lerobot("0.6.1").requires) if r.name == "torchcodec"]
    env = {"sys_platform": "linux", "platform_machine": "aarch64"}
    chosen = [r for r in codecs if r.marker.evaluate({**env, "extra": "dataset"})]
    assert [str(r.specifier) for r in chosen] == ["<0.12.0,>=0.11.0"]
    assert not any(r.marker.evaluate({**env, "extra": ""}) for r in codecs)


def test_every_lerobot_requirement_parses(m) -> None:
    for version in m.lerobot_versions():
        names = {Requirement(r).name for r in m.lerobot(version).requires}
        assert "torch" in names and "torchvision" in names, version


# ---------------------------------------------------------------------------------------
# Data integrity


def test_every_section_and_row_has_a_source(m) -> None:
    raw = m.raw
    for name, section in raw.items():
        if not isinstance(section, dict):
            continue
        assert section.get("source"), f"[{name}] has no source"
    rows = []
    rows += [r.source for r in map(m.torch, m.torch_versions())]
    rows += [r.source for r in map(m.torchcodec, m.torchcodec_versions())]
    rows += [r.source for r in map(m.lerobot, m.lerobot_versions())]
    rows += [r.source for r in npu_table(m).rows()]
    for torch in m.torch_versions():
        for arch in ("x86_64", "aarch64"):
            rows += [b.source for b in cuda_table(m).torch_builds(torch, arch).values()]
    cudas = ("12.1", "12.4", "12.6", "12.8", "12.9", "13.0", "13.2")
    rows += [cuda_table(m).min_driver(c).source for c in cudas]
    assert rows and all(isinstance(s, str) and s.strip() for s in rows)


def test_every_torch_has_its_pypi_build_listed(m) -> None:
    for torch in m.torch_versions():
        for arch in ("x86_64", "aarch64"):
            name = m.pypi_build(torch, arch)
            builds = cuda_table(m).torch_builds(torch, arch)
            assert name in builds and builds[name].index == "pypi", (torch, arch)


def test_build_indexes_and_cuda_drivers_are_known(m) -> None:
    for torch in m.torch_versions():
        for arch in ("x86_64", "aarch64"):
            for b in cuda_table(m).torch_builds(torch, arch).values():
                if b.index != "pypi":
                    assert m.index_url(b.index)
                if b.cuda:
                    assert cuda_table(m).min_driver(b.cuda).toolkit_min
                    assert b.name == "cu" + b.cuda.replace(".", "")


def test_measured_and_npu_rows_refer_to_known_versions(m) -> None:
    for row in m.raw["torchcodec_measured"]["rows"]:
        m.torch(row["torch"])
        for tc in row["torchcodec"]:
            m.torchcodec(tc)
    for row in npu_table(m).rows():
        assert CannVersion(str(row.cann)) == row.cann


def test_row_digest(m) -> None:
    a = m.row_digest(("torch", "2.8.0"), ("torchcodec", "0.7.0"))
    assert len(a) == 64
    assert a == m.row_digest(("torchcodec", "0.7.0"), ("torch", "2.8.0"))
    assert a != m.row_digest(("torch", "2.8.0"), ("torchcodec", "0.6.0"))
    m.row_digest(("lerobot", "0.4.4"), ("torch_npu", "2.7.1"), ("ffmpeg", "6"), ("cuda", "12.8"))
    with pytest.raises(EnvkitError):
        m.row_digest(("nope", "1"))


def test_matrix_is_cached() -> None:
    assert matrix() is matrix()
