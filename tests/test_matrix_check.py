"""`envkit matrix check|propose` against PyPI answers recorded in tests/data/index (see its
README), replayed over HTTP by tests/index_server.py so page parsing and range reads run for real."""

from __future__ import annotations

import copy
import datetime as dt
import json
import socket
import tomllib
from pathlib import Path
from collections.abc import Iterator

import pytest

from envkit.compat import Matrix, matrix
from envkit.matrixcheck.check import Report
from envkit.matrixcheck.check import packages as all_packages
from envkit.matrixcheck.facts import cuda_build, ffmpeg_majors, parse_metadata, pinned_version, requirement_on
from envkit.pypi_index import IndexClient, redact_url
from envkit.matrixcheck.propose import propose
from envkit.matrixcheck.run import check, choose_index
from tests.cli_util import assert_user_error, run_envkit
from tests.index_server import DATA, RecordedIndex


@pytest.fixture
def index() -> Iterator[RecordedIndex]:
    with RecordedIndex() as idx:
        yield idx


def _matrix(edit) -> Matrix:  # noqa: ANN001 (a function editing the raw TOML data)
    raw = copy.deepcopy(matrix().raw)
    edit(raw)
    return Matrix(raw)


def _row(raw: dict, section: str, key: str, value: str) -> dict:
    return next(r for r in raw[section]["rows"] if r[key] == value)


def _check(idx: RecordedIndex, m: Matrix | None = None, packages=None, **kw) -> Report:  # noqa: ANN001
    with IndexClient(idx.url) as client:
        return check(m or matrix(), client, packages if packages is not None else all_packages(), **kw)


# -- the committed matrix ------------------------------------------------------------------


def test_committed_matrix_is_fresh_against_the_recording(index: RecordedIndex) -> None:
    report = _check(index, deep=True)
    assert [f.message for f in report.findings if f.stale] == []
    assert report.exit_code == 0
    # What the recording shows besides: torchvision >= 0.29.1 pins torch by a range, torch_npu
    # 2.1.0.post4 is not on PyPI (its row says so), av 14.4.0 is an sdist only.
    notes = sorted(f.message.split(":")[0] for f in report.of("note"))
    assert notes == ["av 14.4.0 (uploaded 2025-05-16) is an sdist only", "torch 2.14.1 (torchvision = 0.29.1)",
                     "torch 2.15.0 (torchvision = 0.29.2)", "torch_npu 2.1.0.post4"]
    # the unverified torch 2.15.0 row: the index agrees with every field metadata can show
    (u,) = [f for f in report.of("unverified") if f.row == "torch 2.15.0"]
    assert "the index agrees on python, requires_python, pypi.x86_64, pypi.aarch64" in u.message
    assert set(report.agrees["torchcodec 0.17.0"]) == {"python", "aarch64", "ffmpeg", "pypi_build"}
    assert report.agrees["ffmpeg major 9"] == ["sonames"]  # DT_NEEDED of libtorchcodec_core9.so
    assert report.reads["metadata"] == 149 and report.reads["file_lists"] == 38  # 38 since av 18.1.1 (recorded 2026-12-08)


def test_reads_are_range_requests_never_downloads(index: RecordedIndex) -> None:
    report = _check(index, packages=["torch"])
    wheel_gets = [(p, r) for method, p, r in index.log if p.startswith("/files/")]
    assert wheel_gets and all(r and r.startswith("bytes=") for _, r in wheel_gets)
    # 46 torch wheels are 20+ GB on PyPI (their recorded sizes); the check read kilobytes.
    assert report.reads["wheel_bytes"] > 20e9 and report.reads["bytes"] < 5e6


def test_pep658_metadata_files_are_used_where_served() -> None:
    with RecordedIndex(pep658=True) as idx:
        report = _check(idx, packages=["torchvision"])
    assert report.fresh
    assert any(p.endswith(".whl.metadata") for _, p, _ in idx.log)
    assert not any(r for _, p, r in idx.log if p.startswith("/files/"))


def test_pep503_html_index_works_and_since_keeps_undated_releases() -> None:
    drop = _matrix(lambda raw: raw["torch"].update(rows=[r for r in raw["torch"]["rows"] if r["version"] != "2.15.0"]))
    with RecordedIndex(html=True) as idx:
        assert _check(idx, packages=["torch", "torchvision"]).fresh
        # HTML pages carry no upload times: --since cannot drop a release it cannot date
        report = _check(idx, drop, packages=["torch"], since=dt.date(2026, 11, 1))
    assert [f.index for f in report.of("new")] == ["2.15.0"] and report.of("new")[0].uploaded is None


# -- what a stale or wrong matrix looks like ------------------------------------------------


def test_new_torch_release_is_reported(index: RecordedIndex) -> None:
    def drop_215(raw: dict) -> None:
        raw["torch"]["rows"] = [r for r in raw["torch"]["rows"] if r["version"] != "2.15.0"]

    report = _check(index, _matrix(drop_215), packages=["torch"])
    new = report.of("new", "torch")
    assert [(f.index, f.matrix, f.uploaded[:10]) for f in new] == [("2.15.0", "2.14.1", "2026-10-28")]
    assert "envkit matrix propose torch==2.15.0" in new[0].message
    assert report.exit_code == 1
    # --since: a release uploaded before the date is not news
    assert _check(index, _matrix(drop_215), packages=["torch"], since=dt.date(2026, 11, 1)).fresh


def test_contradicted_torchvision_row_reports_both_values(index: RecordedIndex) -> None:
    # torchvision 0.22.1 pins torch==2.7.1; a row pairing it with torch 2.8.0 is wrong.
    m = _matrix(lambda raw: _row(raw, "torch", "version", "2.8.0").update(torchvision="0.22.1"))
    report = _check(index, m, packages=["torchvision"])
    (f,) = report.of("contradicted", "torchvision")
    assert f.matrix == "torchvision 0.22.1 with torch 2.8.0"
    assert f.index == "torchvision 0.22.1 requires torch==2.7.1"
    assert f.evidence.startswith("torchvision-0.22.1-") and report.exit_code == 1


def test_torch_cuda_build_contradictions_name_the_requirement(index: RecordedIndex) -> None:
    def edit(raw: dict) -> None:
        _row(raw, "torch", "version", "2.8.0")["pypi"] = {"x86_64": "cu126", "aarch64": "cpu"}
        _row(raw, "torch", "version", "2.15.0")["pypi"] = {"x86_64": "cu130", "aarch64": "cu132"}

    found = {(f.row, f.field): f for f in _check(index, _matrix(edit), packages=["torch"]).of("contradicted")}
    old = found[("torch 2.8.0", "pypi.x86_64")]
    assert (old.matrix, old.index) == ("cu126", "cu128") and "nvidia-cuda-runtime-cu12==12.8" in old.message
    new = found[("torch 2.15.0", "pypi.x86_64")]
    assert (new.matrix, new.index) == ("cu130", "cu132") and "cuda-toolkit[" in new.message and "==13.2.2" in new.message
    assert len(found) == 2
    # the [[builds.rows]] of PyPI wheels are judged by the same METADATA
    def move_280(raw: dict) -> None:
        rows = [r for r in raw["builds"]["rows"] if r["index"] == "pypi" and r["arch"] == "x86_64"]
        next(r for r in rows if r["name"] == "cu128")["torch"].remove("2.8.0")
        next(r for r in rows if r["name"] == "cu126")["torch"].append("2.8.0")

    (b,) = _check(index, _matrix(move_280), packages=["torch"]).of("contradicted")
    assert (b.row, b.field, b.matrix, b.index) == ("build cu126 x86_64 on pypi (torch 2.7.0..2.8.0)", "torch 2.8.0",
                                                   "cu126", "cu128")


def test_lerobot_torch_npu_and_torchcodec_contradictions(index: RecordedIndex) -> None:
    def edit(raw: dict) -> None:
        _row(raw, "lerobot", "version", "0.6.1")["requires_python"] = ">=3.10"
        lr = _row(raw, "lerobot", "version", "0.4.4")
        lr["requires"] = [r.replace("torch<2.11.0", "torch<2.12.0") for r in lr["requires"]]
        _row(raw, "torch_npu", "torch_npu", "2.9.0.post6")["torch"] = "2.9.1"
        _row(raw, "torch_npu", "torch_npu", "2.12.0")["x86_64_requires_cpu_local"] = True
        _row(raw, "torchcodec", "version", "0.16.0")["ffmpeg"] = [4, 5, 6, 7, 8]
        _row(raw, "torchcodec", "version", "0.11.1")["pypi_build"] = "cu130"  # 0.11.0's build, not 0.11.1's
        raw["ffmpeg"]["majors"]["8"]["avcodec"] = 61
        _row(raw, "torch_npu", "torch_npu", "2.3.1")["python"] = ">=3.8,<3.12"  # the pre-2026-11-30 row

    report = _check(index, _matrix(edit), packages=["lerobot", "torch_npu", "torchcodec"], deep=True)
    got = {(f.row, f.field, f.matrix, f.index) for f in report.of("contradicted")}
    assert ("lerobot 0.6.1", "requires_python", ">=3.10", ">=3.12") in got
    assert ("lerobot 0.4.4", "requires", "torch<2.12.0,>=2.2.1", "torch<2.11.0,>=2.2.1") in got
    assert ("torch_npu 2.9.0.post6", "torch", "2.9.1", "torch==2.9.0+cpu") in got
    assert ("torch_npu 2.9.0.post6", "torch", "2.9.1", "torch==2.9.0") in got
    assert ("torch_npu 2.12.0", "x86_64_requires_cpu_local", "True", "False") in got
    assert ("torchcodec 0.16.0", "ffmpeg", "[4, 5, 6, 7, 8]", "[4, 5, 6, 7, 8, 9]") in got
    assert ("torch_npu 2.3.1", "python", ">=3.8,<3.12", ">=3.8,<3.11") in got
    assert ("torchcodec 0.11.1", "pypi_build", "cu130", "cpu") in got
    assert ("ffmpeg major 8", "avcodec", "{'avcodec': 61}", "{'avcodec': 62}") in got
    assert len(got) == 9
    # without --deep no wheel file list is read, so the FFmpeg row is not judged
    shallow = _check(index, _matrix(edit), packages=["torchcodec"])
    assert shallow.fresh and shallow.reads["file_lists"] == 0


def test_missing_release_of_a_verified_row_is_stale(index: RecordedIndex) -> None:
    m = _matrix(lambda raw: _row(raw, "lerobot", "version", "0.6.1").update(version="0.6.9"))
    (f,) = _check(index, m, packages=["lerobot"]).of("absent")
    assert f.row == "lerobot 0.6.9" and "not on the index" in f.message


# -- the CLI ------------------------------------------------------------------------------


def test_cli_check_json_and_exit_codes(index: RecordedIndex) -> None:
    res = run_envkit("matrix", "check", "--index-url", index.url, "--package", "torch", "--package", "av",
                     "--deep", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["fresh"] is True and doc["packages"] == ["torch", "av"] and doc["index_from"] == "--index-url"
    assert doc["newest"]["torch"]["index"] == "2.15.0"
    text = run_envkit("matrix", "check", "--index-url", index.url, "--package", "torchcodec")
    assert text.code == 0 and "torchcodec: newest on the index 0.17.0" in text.out and "the matrix is fresh" in text.out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_index_exits_2_naming_it_without_credentials() -> None:
    url = f"http://ci-bot:s3cr3t-token@127.0.0.1:{_closed_port()}/simple"
    res = run_envkit("matrix", "check", "--index-url", url, "--package", "torch")
    assert_user_error(res, "127.0.0.1", "unreachable", code=2)
    # envkit's one redaction keeps the user name and masks the password (docs/safety.md)
    assert "s3cr3t" not in res.err and "ci-bot:***@127.0.0.1" in res.err
    assert redact_url(url).startswith("http://ci-bot:***@127.0.0.1:")


def test_index_without_ranges_or_pep658_exits_2_without_downloading() -> None:
    with RecordedIndex(ranges=False) as idx:
        res = run_envkit("matrix", "check", "--index-url", idx.url, "--package", "lerobot")
    assert_user_error(res, "neither PEP 658 metadata files nor HTTP range requests", "will not download", code=2)


def test_pip_index_url_is_the_default(index: RecordedIndex, tmp_path) -> None:  # noqa: ANN001
    env = {"PIP_CONFIG_FILE": str(tmp_path / "none.conf"), "PIP_INDEX_URL": index.url, "HOME": str(tmp_path)}
    res = run_envkit("matrix", "check", "--package", "lerobot", "--json", env=env)
    assert res.code == 0, res.err
    assert json.loads(res.out)["index"] == index.url
    assert choose_index(None, matrix(), {"HOME": str(tmp_path), "PIP_CONFIG_FILE": "/dev/null"})[0] == \
        matrix().index_url("pypi")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["check", "--package", "numpy"], "--package 'numpy'"),
        (["check", "--since", "last week"], "--since 'last week'"),
        (["propose", "torch"], "NAME==VERSION"),
        (["propose", "torchvision==0.29.2"], "torch row"),
        (["propose", "numpy==1.0"], "'numpy'"),
    ],
)
def test_bad_input_is_one_paragraph_exit_2(args: list[str], needle: str) -> None:
    assert_user_error(run_envkit("matrix", *args, "--index-url", "http://127.0.0.1:9/simple"), needle)


# -- propose ------------------------------------------------------------------------------


def test_propose_torch_row_with_sources(index: RecordedIndex) -> None:
    res = run_envkit("matrix", "propose", "torch==2.15.0", "--index-url", index.url)
    assert res.code == 0, res.err
    row = tomllib.loads(res.out)["torch"]["rows"][0]
    assert row == {"version": "2.15.0", "torchvision": "0.29.2", "python": ">=3.11,<3.16", "requires_python": ">=3.11",
                   "pypi": {"x86_64": "cu132", "aarch64": "cu132"}, "verified": False}
    assert "torchvision = \"0.29.2\" # NEEDS A HUMAN: inferred" in res.out  # a range, not a pin
    assert "cuda-toolkit[" in res.out and "CPython tags" in res.out
    # the committed row agrees with what the index supports, field for field
    committed = _row(matrix().raw, "torch", "version", "2.15.0")
    assert all(committed[k] == v for k, v in row.items())


def test_propose_pairs_torchvision_by_its_pin(index: RecordedIndex) -> None:
    with IndexClient(index.url) as client:
        p = propose(matrix(), client, "torch", "2.8.0")
    fields = {f.key: f for f in p.fields}
    assert fields["torchvision"].value == "0.23.0" and not fields["torchvision"].human
    assert "Requires-Dist torch==2.8.0" in fields["torchvision"].source
    assert fields["pypi"].value == {"x86_64": "cu128", "aarch64": "cpu"}


def test_propose_other_packages(index: RecordedIndex) -> None:
    with IndexClient(index.url) as client:
        npu = propose(matrix(), client, "torch_npu", "2.10.0.post4")
        codec = propose(matrix(), client, "torchcodec", "0.17.0")
        av = propose(matrix(), client, "av", "19.0.2")
        lerobot = propose(matrix(), client, "lerobot", "0.6.1")
    v = {f.key: f.value for f in npu.fields}
    assert (v["torch"], v["x86_64_requires_cpu_local"], v["python"]) == ("2.10.0", True, ">=3.10,<3.14")
    assert npu.needs_human == ["cann", "branch"]
    c = {f.key: f.value for f in codec.fields}
    assert (c["ffmpeg"], c["aarch64"], c["python"]) == ([4, 5, 6, 7, 8, 9], True, ">=3.10,<3.15")
    assert set(codec.needs_human) == {"torch", "pypi_build", "ffmpeg_checked_at"}
    assert c["pypi_build"] == "cu130"  # libnvrtc.so.13 / libcudart.so.13: the major is certain, not the minor
    with IndexClient(index.url) as client:
        cpu = {f.key: f for f in propose(matrix(), client, "torchcodec", "0.11.1").fields}["pypi_build"]
    assert cpu.value == "cpu" and not cpu.human
    assert {f.key: f.value for f in av.fields} == {"av": ["19.0.2"], "ffmpeg": "9", "avutil": 61}
    lr = {f.key: f.value for f in lerobot.fields}
    assert lr["requires"] == matrix().lerobot("0.6.1").requires
    assert (lr["train_entry"], lr["train_module"]) == ("lerobot-train", "lerobot.scripts.lerobot_train")
    toml_text = lerobot.toml()
    assert tomllib.loads(toml_text)["lerobot"]["rows"][0]["verified"] is False


# -- facts from recorded METADATA -------------------------------------------------------------


def _meta(name: str):  # noqa: ANN202
    return parse_metadata((DATA / "metadata" / f"{name}.METADATA").read_text())


def test_cuda_build_from_recorded_metadata() -> None:
    # torch 2.2.0's aarch64 wheel lists nvidia-*-cu12 under platform_machine == "x86_64": a CPU build
    assert cuda_build(_meta("torch-2.2.0-cp312-cp312-manylinux2014_aarch64.whl"), "aarch64")[0] == "cpu"
    assert cuda_build(_meta("torch-2.2.0-cp312-cp312-manylinux1_x86_64.whl"), "x86_64")[0] == "cu121"
    assert cuda_build(_meta("torch-2.15.0-cp312-cp312-manylinux_2_28_aarch64.whl"), "aarch64")[0] == "cu132"
    tv = requirement_on(_meta("torchvision-0.23.0-cp312-cp312-manylinux_2_28_x86_64.whl"), "torch")
    assert pinned_version(tv) == "2.8.0"
    npu = requirement_on(_meta("torch_npu-2.10.0.post4-cp312-cp312-manylinux_2_28_x86_64.whl"), "torch")
    assert pinned_version(npu) == "2.10.0+cpu"
    names = (DATA / "filelists" / "torchcodec-0.17.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl.txt")
    assert ffmpeg_majors(names.read_text().split()) == [4, 5, 6, 7, 8, 9]
    old = DATA / "filelists" / "TorchCodec-0.2.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl.txt"
    assert ffmpeg_majors(old.read_text().split()) == [4, 5, 6, 7]


def test_cli_start_up_does_not_import_the_http_stack() -> None:
    import subprocess
    import sys

    probe = ("import sys, envkit.cli; "
             "print([m for m in ('requests', 'pypi_simple', 'remotezip', 'envkit.matrixcheck') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    from envkit.commands import matrix as command

    assert set(command.GENERIC) < set(all_packages())  # and the accelerators add their own
    res = run_envkit("matrix", "--help")
    assert res.code == 0 and "check" in res.out and "propose" in res.out


# -- check --write-proposals: new releases as one reviewable patch of compat.toml ------------------


def _compat_text() -> str:
    from envkit.compat import DATA_FILE
    from envkit.resources import package_file

    return Path(package_file(DATA_FILE)).read_text()


def test_proposals_join_a_patch_release_and_append_a_new_row(index: RecordedIndex) -> None:
    """av 18.1.1 joins the avutil-60 row; torch 2.15.0 (dropped from the text) comes back as an unverified row."""
    from envkit.matrixcheck.patch import apply, unified

    text = _compat_text()
    without = text.replace(', "18.1.0", "18.1.1"]', ', "18.1.0"]')
    start = without.index("[[torch.rows]]\nversion = \"2.15.0\"")
    end = without.index("\n\n", start)
    without = without[:start] + without[end + 2:]
    with IndexClient(index.url) as client:
        drafted = [propose(Matrix(tomllib.loads(without)), client, "av", "18.1.1"),
                   propose(Matrix(tomllib.loads(without)), client, "torch", "2.15.0")]
    new, applied = apply(without, drafted)
    assert [a.how for a in applied] == ["joined the row with ffmpeg = 8, avutil = 60", "new row, verified = false"]
    data = tomllib.loads(new)
    (av_row,) = [r for r in data["pyav"]["rows"] if "18.1.1" in r["av"]]
    assert av_row["avutil"] == 60 and av_row["av"][-2:] == ["18.1.0", "18.1.1"]
    (torch_row,) = [r for r in data["torch"]["rows"] if r["version"] == "2.15.0"]
    assert torch_row["verified"] is False and torch_row["torchvision"] == "0.29.2"
    assert Matrix(data).torch("2.15.0") is not None  # the drafted matrix loads
    patch = unified(without, new, applied, index.url)
    assert patch.startswith("# envkit matrix proposals") and "NEEDS A HUMAN: torchvision" in patch
    assert "+++ b/src/envkit/compat.toml" in patch
    # Nothing but the two additions: every removed line of the diff is the one av list it widened.
    removed = [ln for ln in patch.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    assert removed == ['-av = ["16.0.0", "16.0.1", "16.1.0", "17.0.0", "17.0.1", "17.1.0", "18.0.0", "18.1.0"]']


def test_cli_write_proposals_is_a_patch_that_applies(index: RecordedIndex, tmp_path) -> None:  # noqa: ANN001
    import subprocess

    out = tmp_path / "p.patch"
    res = run_envkit("matrix", "check", "--index-url", index.url, "--package", "av", "--deep", "--write-proposals", str(out))
    assert res.code == 0 and "wrote no" in res.out and not out.exists()  # the committed matrix is fresh
    foreign = tmp_path / "mine.patch"
    foreign.write_text("my own notes\n")
    assert_user_error(run_envkit("matrix", "check", "--index-url", index.url, "--write-proposals", str(foreign)),
                      "was not written by envkit")
    assert foreign.read_text() == "my own notes\n"
    # The patch a finding gives applies with patch -p1 to a checkout whose compat.toml lacks av 18.1.1.
    tree = tmp_path / "repo"
    (tree / "src" / "envkit").mkdir(parents=True)
    old = _compat_text().replace(', "18.1.0", "18.1.1"]', ', "18.1.0"]')
    (tree / "src" / "envkit" / "compat.toml").write_text(old)
    from envkit.matrixcheck.patch import apply, unified

    with IndexClient(index.url) as client:
        drafted = [propose(Matrix(tomllib.loads(old)), client, "av", "18.1.1")]
    new, applied = apply(old, drafted)
    out.write_text(unified(old, new, applied, index.url))
    subprocess.run(["patch", "-p1", "-i", str(out)], cwd=tree, check=True, capture_output=True)
    assert (tree / "src" / "envkit" / "compat.toml").read_text() == new
