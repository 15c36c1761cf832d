"""`envkit fleet report`: merging real `envkit doctor --json` outputs (tests/data/fleet, how they were made is in its README)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from envkit.accel.cuda.facts import nvidia
from envkit.errors import EnvkitError
from envkit.fleet import aggregate, load_dir, parse_report
from tests.cli_util import assert_user_error, run_envkit

DATA = Path(__file__).parent / "data" / "fleet"
GREEN = DATA / "green-cpu.json"
RED = DATA / "red-torchcodec-0.10.json"


def _fleet_dir(tmp_path: Path, **hosts: Path) -> Path:
    d = tmp_path / "reports"
    d.mkdir()
    for host, src in hosts.items():
        shutil.copy(src, d / f"{host}.json")
    return d


def test_three_green_hosts_merge_green(tmp_path: Path) -> None:
    fleet = load_dir(_fleet_dir(tmp_path, node1=GREEN, node2=GREEN, node3=GREEN))
    assert [h.host for h in fleet.hosts] == ["node1", "node2", "node3"]
    assert fleet.red == [] and fleet.strays == {}
    assert fleet.majority["torch"] == "2.14.1" and fleet.majority["torchcodec"] == "0.17.0"
    assert "torch.tuple" in fleet.check_ids and all(h.verdict == "green" for h in fleet.hosts)


def test_stale_torchcodec_host_is_red_with_the_doctors_fix_and_stands_out(tmp_path: Path) -> None:
    fleet = load_dir(_fleet_dir(tmp_path, node1=GREEN, node2=GREEN, node3=RED))
    assert fleet.red == ["node3"]
    assert fleet.strays == {"node3": {"torchcodec": "0.10.0", "ffmpeg": None}}  # 0.10 loads no FFmpeg at all
    node3 = fleet.to_dict()["hosts"]["node3"]
    fixes = {p["id"]: p["fix"] for p in node3["problems"]}
    assert "torchcodec==0.17.0" in fixes["torchcodec.load"]
    assert fleet.to_dict()["hosts"]["node1"]["problems"] == []


def test_cli_report_exit_codes_and_formats(tmp_path: Path) -> None:
    d = _fleet_dir(tmp_path, node1=GREEN, node2=GREEN, node3=RED)
    human = run_envkit("fleet", "report", str(d))
    assert human.code == 1, human.err
    assert "node3" in human.out and "0.10.0 ≠" in human.out and "torchcodec==0.17.0" in human.out
    assert "1 red" in human.out
    as_json = run_envkit("fleet", "report", str(d), "--json")
    assert as_json.code == 1 and json.loads(as_json.out)["red"] == ["node3"]
    md = run_envkit("fleet", "report", str(d), "--markdown")
    assert md.code == 1 and "| node3 | red |" in md.out and "**0.10.0** ⚠" in md.out
    (d / "node3.json").unlink()
    green = run_envkit("fleet", "report", str(d), "--json")
    assert green.code == 0 and json.loads(green.out)["ok"] is True


def test_two_hosts_that_disagree_have_no_majority(tmp_path: Path) -> None:
    fleet = load_dir(_fleet_dir(tmp_path, a=GREEN, b=RED))
    assert "torchcodec" in fleet.split and "torchcodec" not in fleet.majority
    assert fleet.strays["a"]["torchcodec"] == "0.17.0" and fleet.strays["b"]["torchcodec"] == "0.10.0"


def test_report_without_versions_is_unknown_not_different() -> None:
    doc = json.loads(GREEN.read_text())
    del doc["versions"]  # what a doctor from before the `versions` key printed
    old = parse_report("old", json.dumps(doc), "old.json")
    fleet = aggregate([parse_report(h, GREEN.read_text(), f"{h}.json") for h in ("n1", "n2")] + [old])
    assert fleet.strays == {} and fleet.red == []


def test_profile_as_an_object_is_read_by_name() -> None:
    doc = json.loads(GREEN.read_text())
    doc["profile"] = {"name": "cpu", "file": "/x/profiles/cpu.toml"}
    assert parse_report("h", json.dumps(doc), "h.json").tuple["profile"] == "cpu"


def test_warning_only_host_is_yellow_not_red() -> None:
    doc = json.loads(GREEN.read_text())
    doc["checks"][2].update(status="warn", fix="mount a larger /dev/shm")
    host = parse_report("w", json.dumps(doc), "w.json")
    assert host.verdict == "yellow" and not host.red


@pytest.mark.parametrize(("content", "needle"), [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "top level is a list"),
    ('{"ok": true}', "no 'checks' list"),
    ('{"checks": [{"id": 3}]}', "checks[0]"),
])
def test_bad_report_names_the_file(tmp_path: Path, content: str, needle: str) -> None:
    d = _fleet_dir(tmp_path, node1=GREEN)
    (d / "node2.json").write_text(content)
    with pytest.raises(EnvkitError) as err:
        load_dir(d)
    assert str(d / "node2.json") in err.value.message and needle in err.value.message
    assert_user_error(run_envkit("fleet", "report", str(d)), "node2.json", needle)


def test_missing_or_empty_dir_is_one_paragraph(tmp_path: Path) -> None:
    assert_user_error(run_envkit("fleet", "report", str(tmp_path / "nope")), "no such directory")
    (tmp_path / "empty").mkdir()
    assert_user_error(run_envkit("fleet", "report", str(tmp_path / "empty")), "holds no HOST.json")


def test_doctor_json_carries_the_tuple_fleet_compares() -> None:
    """report.to_json's `versions`, from a transcribed 5090 probe (tests/data/probe/*/SOURCE.md)."""
    from envkit.doctor.model import Context
    from envkit.doctor.report import to_json

    d = Path(__file__).parent / "data" / "probe" / "rtx5090-torch280-driver570"
    ctx = Context(probe=json.loads((d / "probe.json").read_text()), host=json.loads((d / "host.json").read_text()))
    doc = json.loads(to_json(ctx, []))
    host = parse_report("gpu1", json.dumps(doc), "gpu1.json")
    assert host.tuple["torch"] == ctx.dist("torch") and host.tuple["torch"]
    assert host.tuple["driver"] == nvidia(ctx.host).driver_version and host.tuple["driver"]
    assert host.tuple["cuda"] == ctx.probe["torch"]["cuda"]


def test_fleet_is_a_listed_command_with_its_own_help() -> None:
    assert "fleet" in run_envkit("--help").out
    helped = run_envkit("fleet", "report", "--help")
    assert helped.code == 0 and "--markdown" in helped.out and "HOST.json" in helped.out
