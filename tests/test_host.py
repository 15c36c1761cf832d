"""Host detection: recorded scenarios (transcribed from public outputs), this machine, the
host-facts file format and its validation, and the `detect` command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from envkit.accel.ascend.facts import ascend
from envkit.accel.ascend.host import parse_npu_smi_info, parse_version_cfg
from envkit.accel.cuda.facts import nvidia
from envkit.accel.cuda.host import format_cuda_version, parse_proc_driver_version
from envkit.errors import EnvkitError
from envkit.host import RecordedBoundary, conda_platform, detect
from envkit.hostfacts import SCHEMA_VERSION, HostFacts, load_host_file
from tests.scenarios import RECORDED, host_scenarios, is_recorded, scenario_id
from tests.scenarios import meta as scenario_meta

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "tests" / "data" / "host"
EXAMPLES = REPO / "docs" / "examples"
MIB = 1048576


def scenario(name: str) -> HostFacts:
    return detect(RecordedBoundary(SCENARIOS / name))


# --- scenarios -----------------------------------------------------------------------------


def test_every_scenario_says_where_its_values_came_from() -> None:
    transcribed = sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())
    assert len(transcribed) >= 7
    for path in host_scenarios():
        name, meta = scenario_id(path), scenario_meta(path)
        if meta.get("recorded") is True:
            # Recorded by envkit on a real machine: the recording's provenance instead of a citation,
            # and kept apart from the transcribed ones.
            assert meta["transcribed"] is False and path.parent == RECORDED, name
            rec = meta["recording"]
            assert rec["tool"] == "envkit" and rec["envkit_version"] and rec["date"], name
            assert rec["command"].startswith("envkit ") and "--record" in rec["command"], name
            assert rec["replay_matches"] is True, name
            assert (path / "host.json").is_file(), name
        else:
            assert path.parent == SCENARIOS, name
            assert meta["transcribed"] is True and meta["recorded_here"] is False, name
            assert any("http" in s["source"] or "research/" in s["source"] or "seed guide" in s["source"] for s in meta["sources"]), name


@pytest.mark.parametrize("path", [p for p in host_scenarios() if is_recorded(p)], ids=scenario_id)
def test_recorded_scenario_replays_to_the_live_facts(path: Path) -> None:
    # host.json is what `envkit detect` printed on that machine (redacted like the rest).
    assert detect(RecordedBoundary(path)).to_dict() == json.loads((path / "host.json").read_text())


def test_eight_rtx5090_driver_590() -> None:
    f = scenario("rtx5090-8x-590")
    assert (f.platform, f.arch, f.suggested_profile) == ("linux-64", "x86_64", "5090")
    nv = nvidia(f)
    assert (nv.source, nv.driver_version, nv.cuda_driver_version, nv.error) == ("nvml", "590.48.01", "13.1", None)
    assert len(nv.gpus) == 8 and [g.index for g in nv.gpus] == list(range(8))
    assert {(g.name, g.compute_capability, g.memory_total_bytes) for g in nv.gpus} == {
        ("NVIDIA GeForce RTX 5090", "12.0", 32607 * MIB)
    }
    assert nv.gpus[0].memory_total_bytes == 34190917632  # the value in docs/formats.md
    assert "/dev/nvidia7" in nv.device_nodes and "/dev/nvidiactl" in nv.device_nodes
    assert not ascend(f).present() and ascend(f).npu_smi is None
    assert f.tools.conda == "/opt/conda/bin/conda" and f.tools.uv is None
    assert f.warnings == ()


def test_two_rtx5090_driver_570() -> None:
    f = scenario("rtx5090-2x-570")
    assert (nvidia(f).driver_version, nvidia(f).cuda_driver_version) == ("570.133.07", "12.8")
    assert [g.compute_capability for g in nvidia(f).gpus] == ["12.0", "12.0"]
    assert f.suggested_profile == "5090"
    assert f.os.release == "6.13.8"


def test_gtx1080ti_is_too_old_for_the_cuda_profile() -> None:
    f = scenario("gtx1080ti-418")
    (gpu,) = nvidia(f).gpus
    assert (gpu.name, gpu.compute_capability, gpu.memory_total_bytes) == ("GeForce GTX 1080 Ti", "6.1", 11811160064)
    assert nvidia(f).cuda_driver_version == "10.1"
    assert f.suggested_profile == "cpu"
    assert f.container == "docker"
    assert any("6.1" in w and "7.0" in w for w in f.warnings)


def test_rtx4090_uses_the_cuda_profile() -> None:
    f = scenario("rtx4090-550")
    assert [g.compute_capability for g in nvidia(f).gpus] == ["8.9", "8.9"]
    assert nvidia(f).gpus[0].memory_total_bytes == 24564 * MIB
    assert (nvidia(f).driver_version, nvidia(f).cuda_driver_version) == ("550.163.01", "12.4")
    assert f.suggested_profile == "5090"
    assert f.tools.conda == "/root/miniconda3/bin/conda"  # from CONDA_EXE, not PATH


def test_driver_without_nvml_falls_back_to_procfs() -> None:
    f = scenario("nvml-missing-procfs")
    nv = nvidia(f)
    assert (nv.source, nv.driver_version, nv.cuda_driver_version) == ("procfs", "565.57.01", None)
    assert nv.gpus == () and nv.error == "NVML Shared Library Not Found"
    assert nv.device_nodes == ("/dev/nvidia0", "/dev/nvidiactl")
    assert f.suggested_profile == "cpu"
    assert any("NVML failed" in w for w in f.warnings)


def test_atlas_a2_with_cann_83_sourced() -> None:
    f = scenario("atlas-a2-cann83")
    assert (f.arch, f.platform, f.suggested_profile) == ("aarch64", "linux-aarch64", "atlas-a2")
    a = ascend(f)
    assert a.chip_nodes() == ("/dev/davinci0", "/dev/davinci1")
    assert {"/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"} <= set(a.device_nodes)
    assert a.driver_version == "25.2.0"
    assert a.npu_smi is not None
    assert (a.npu_smi.path, a.npu_smi.version, a.npu_smi.error) == ("/usr/local/bin/npu-smi", "25.2.0", None)
    assert [(c.index, c.name, c.health, c.hbm_total_mb) for c in a.npu_smi.chips] == [
        (0, "910B4-1", "OK", 65536),
        (1, "910B4-1", "OK", 65536),
    ]
    assert a.cann.version == "8.3.RC1"
    assert a.cann.version_file == "/usr/local/Ascend/ascend-toolkit/latest/version.cfg"
    assert a.cann.set_env == ("/usr/local/Ascend/ascend-toolkit/set_env.sh",)
    assert a.cann.home_path == "/usr/local/Ascend/ascend-toolkit/latest"
    assert a.cann.opp_path == "/usr/local/Ascend/ascend-toolkit/latest/opp"
    assert nvidia(f).source is None and f.warnings == ()


def test_atlas_without_set_env_sourced() -> None:
    f = scenario("atlas-910b4-unsourced")
    a = ascend(f)
    assert f.suggested_profile == "atlas-a2"
    assert a.cann.home_path is None and a.cann.opp_path is None
    assert a.cann.version == "8.0.RC2"  # still read from the default install path
    assert [c.hbm_total_mb for c in a.npu_smi.chips] == [32768, 32768]  # type: ignore[union-attr]
    assert any("not sourced" in w and "set_env.sh" in w for w in f.warnings)


def test_npu_smi_binary_without_device_nodes_does_not_suggest_atlas(tmp_path: Path) -> None:
    (tmp_path / "files/usr/local/bin").mkdir(parents=True)
    (tmp_path / "files/usr/local/bin/npu-smi").write_text("")
    (tmp_path / "system.json").write_text(json.dumps(_system("aarch64")))
    f = detect(RecordedBoundary(tmp_path))
    assert f.suggested_profile == "cpu"  # no /dev/davinciN: nothing could train on an NPU here
    assert any("no /dev/davinciN" in w and "--device" in w for w in f.warnings)
    assert ascend(f).npu_smi is not None and ascend(f).npu_smi.error == "npu-smi could not be started"
    assert any("no CANN set_env.sh" in w for w in f.warnings)


def _system(machine: str = "x86_64") -> dict[str, object]:
    return dict(system="Linux", release="6.1", machine=machine, glibc="2.36", python_version="3.10.12",
                python_executable="/usr/bin/python3", cpu_count=4, ram_bytes=1, disk_free_bytes=1, shm_bytes=1)


# --- parsers -------------------------------------------------------------------------------


def test_parse_proc_driver_version_both_module_flavours() -> None:
    # Proprietary module wording, transcribed from dylanaraps/neofetch#876.
    old = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.98  Thu Oct 26 15:16:01 PDT 2017\n"
    assert parse_proc_driver_version(old) == "384.98"
    # Open module wording, from nix-community/nixGL#121.
    new = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  525.60.11  Release Build  (archlinux-builder@localhost)\n"
    assert parse_proc_driver_version(new) == "525.60.11"
    assert parse_proc_driver_version("garbage") is None


def test_format_cuda_version() -> None:
    assert [format_cuda_version(v) for v in (13010, 12080, 10010, 0, None)] == ["13.1", "12.8", "10.1", None, None]


def test_parse_version_cfg() -> None:
    assert parse_version_cfg("toolkit_running_version=[7.3.0.1.231:8.0.RC2]\n") == "8.0.RC2"
    assert parse_version_cfg("runtime_running_version=[8.3.0.1.200:8.3.RC1]\n") == "8.3.RC1"
    assert parse_version_cfg("nothing here") is None


def test_parse_npu_smi_two_chip_rows_per_npu() -> None:
    # Newer layout: "Chip  Phy-ID" and two chips per NPU; values from vllm-project/vllm-ascend#12980.
    text = (
        "| npu-smi 26.0.rc2                            Version: 26.0.rc2                |\n"
        "| 0     Ascend910           | OK            | 162.6       34      0    / 0    |\n"
        "| 0     0                   | 0000:9D:00.0  | 0           0    / 0   3419 / 65536 |\n"
        "| 0     Ascend910           | OK            | -           34      0    / 0    |\n"
        "| 1     1                   | 0000:9F:00.0  | 0           0    / 0   2874 / 65536 |\n"
        "| NPU     Chip              | Process id    | Process name | Process memory(MB) |\n"
        "| 0       0                 | 2839419       | python3      | 61200              |\n"
    )
    version, chips = parse_npu_smi_info(text)
    assert version == "26.0.rc2"
    assert [(c.index, c.name, c.hbm_total_mb) for c in chips] == [(0, "Ascend910", 65536), (1, "Ascend910", 65536)]


def test_conda_platform() -> None:
    assert conda_platform("Linux", "x86_64") == "linux-64"
    assert conda_platform("Linux", "aarch64") == "linux-aarch64"
    assert conda_platform("Darwin", "arm64") == "osx-arm64"


# --- this machine --------------------------------------------------------------------------


def test_real_detect_on_this_machine_is_fast_and_cpu() -> None:
    start = time.monotonic()
    f = detect()
    elapsed = time.monotonic() - start
    assert elapsed < 5.0
    assert f.platform == "linux-64"
    assert not nvidia(f).gpus and nvidia(f).source is None
    assert not ascend(f).present()
    assert f.suggested_profile == "cpu"
    assert f.python.version == ".".join(map(str, sys.version_info[:3]))
    assert f.cpu_count and f.ram_bytes and f.disk_free_bytes


# --- the format ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", host_scenarios(), ids=scenario_id)
def test_json_round_trip(path: Path) -> None:
    f = detect(RecordedBoundary(path))
    assert HostFacts.from_json(f.to_json()) == f
    assert json.loads(f.to_json())["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("host-*.json")))
def test_examples_load(example: Path) -> None:
    f = load_host_file(example)
    assert f.to_dict() == json.loads(example.read_text())


def test_examples_match_their_scenarios() -> None:
    assert load_host_file(EXAMPLES / "host-5090.json") == scenario("rtx5090-8x-590")
    assert load_host_file(EXAMPLES / "host-atlas-a2.json") == scenario("atlas-a2-cann83")


def test_minimal_hand_written_file_gets_defaults(tmp_path: Path) -> None:
    p = tmp_path / "h.json"
    p.write_text(json.dumps({"schema_version": 1, "os": {"system": "Linux", "release": "6"}, "arch": "x86_64",
                             "platform": "linux-64", "python": {"version": "3.10.12"}}))
    f = load_host_file(p)
    assert nvidia(f).gpus == () and f.suggested_profile == "cpu" and ascend(f).cann.version is None


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "host.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def _valid() -> dict:
    return scenario("rtx5090-8x-590").to_dict()


def _error(path: Path) -> str:
    with pytest.raises(EnvkitError) as info:
        load_host_file(path)
    assert info.value.exit_code == 2 and info.value.fix
    return info.value.message


def test_missing_file(tmp_path: Path) -> None:
    msg = _error(tmp_path / "nope.json")
    assert "nope.json" in msg and "does not exist" in msg


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    p = _write(tmp_path, '{\n  "schema_version": 1,\n  "arch": x86_64\n}\n')
    msg = _error(p)
    assert str(p) in msg and "line 3, column 11" in msg


def test_wrong_schema_version(tmp_path: Path) -> None:
    data = _valid() | {"schema_version": 2}
    msg = _error(_write(tmp_path, data))
    assert "host.json" in msg and "'schema_version'" in msg and "2" in msg


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    data = _valid()
    data["nvidia"]["gpus"][3]["memory_total_bytes"] = "32 GB"
    msg = _error(_write(tmp_path, data))
    assert "host.json" in msg and "'nvidia.gpus[3].memory_total_bytes'" in msg and "integer" in msg


def test_bool_is_not_an_integer(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, _valid() | {"cpu_count": True}))
    assert "'cpu_count'" in msg


def test_missing_required_key(tmp_path: Path) -> None:
    data = _valid()
    del data["os"]["system"]
    msg = _error(_write(tmp_path, data))
    assert "'os.system'" in msg and "missing" in msg


def test_bad_choice(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, _valid() | {"container": "vmware"}))
    assert "'container'" in msg and "docker" in msg


def test_not_an_object(tmp_path: Path) -> None:
    assert "JSON object" in _error(_write(tmp_path, "[1, 2]"))


# --- the command ---------------------------------------------------------------------------


def _app() -> typer.Typer:
    from envkit.commands.detect import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # keeps `detect` a subcommand even when it is the only one
        pass

    register(app)
    return app


def test_detect_json_command_round_trips() -> None:
    result = CliRunner().invoke(_app(), ["detect", "--json"])
    assert result.exit_code == 0, result.output
    f = HostFacts.from_json(result.output)
    assert f.suggested_profile == "cpu" and f.platform == "linux-64"


def test_detect_human_command() -> None:
    result = CliRunner().invoke(_app(), ["detect"])
    assert result.exit_code == 0, result.output
    assert "suggested profile: cpu" in result.output and "linux-64" in result.output


def test_envkit_detect_json_subprocess() -> None:
    from envkit import cli

    if len(cli.app.registered_commands) < 2 and cli.app.registered_callback is None:
        pytest.skip("cli.app has only `detect` registered and no callback, so typer runs it as the root command")
    exe = Path(sys.executable).with_name("envkit")
    proc = subprocess.run([str(exe), "detect", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert HostFacts.from_json(proc.stdout).suggested_profile == "cpu"


def test_system_ffmpeg_is_the_hosts_real_libavutil(tmp_path: Path) -> None:
    """Debian 12's FFmpeg 5.1 ships libavutil.so.57 (cpu-feasibility.md section 3): resolve says 5, as the doctor does."""
    from envkit.profiles import load_profile
    from envkit.resolve import resolve

    libs = tmp_path / "files/usr/lib/x86_64-linux-gnu"
    libs.mkdir(parents=True)
    for name in ("libavutil.so.57", "libavutil.so.57.28.100", "libavcodec.so.59"):
        (libs / name).write_text("")
    (tmp_path / "system.json").write_text(json.dumps(_system("x86_64")))
    f = detect(RecordedBoundary(tmp_path))
    assert f.system_ffmpeg == ("libavutil.so.57",)
    r = resolve(load_profile("cpu"), f, None, "linux-64")
    assert r.ffmpeg["major"] == 5 and r.ffmpeg["avutil_soname"] == "libavutil.so.57"
    assert any("libavutil.so.57 is installed on this host" in why for why in r.reasons)
    none = detect(RecordedBoundary(tmp_path / "none")) if (tmp_path / "none").mkdir() is None and \
        (tmp_path / "none" / "system.json").write_text(json.dumps(_system("x86_64"))) else None
    assert none is not None and none.system_ffmpeg == ()
    assert any("no system FFmpeg on this host yet" in why for why in resolve(load_profile("cpu"), none, None, "linux-64").reasons)
