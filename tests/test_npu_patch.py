"""envkit's lerobot 0.4.2 NPU patch: it applies to the real sdist, is detected once applied,
corrupt or mismatched patches are refused before anything is written, and the patched device
logic behaves as designed against an emulated torch (the hardware boundary)."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import py_compile
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from envkit.accel.ascend.patch import MARKER_TAG, PATCH_MARKERS
from envkit.errors import EnvkitError
from envkit.lerobot_patch import (
    ALREADY_APPLIED,
    APPLIED,
    APPLIES,
    apply,
    check_applies,
    parse_hunks,
    patch_path,
    verify_installed,
)
from tests.lerobot_sdists import extract, sdist_tarball  # noqa: F401 - shared with test_setup

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PATCH_NAME = "lerobot-0.4.2-npu.patch"
PATCHED_FILES = (
    "src/lerobot/utils/utils.py",
    "src/lerobot/scripts/lerobot_train.py",
    "src/lerobot/configs/train.py",
)
# The sdists live where `pip download --no-deps --no-binary :all: lerobot==V -d .cache/lerobot-V`
# puts them (gitignored); fetched once from PyPI with the sha256 PyPI publishes.
CACHE = REPO / ".cache"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return extract("0.4.2", tmp_path)


@pytest.fixture
def patched(tree: Path) -> Path:
    assert apply(tree, patch_path(PATCH_NAME)) == APPLIED
    return tree


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def patch_text() -> str:
    return patch_path(PATCH_NAME).read_text()


# --- the shipped patch itself ----------------------------------------------------------------


def test_patch_path_finds_the_shipped_patch_and_refuses_unknown_names() -> None:
    assert patch_path(PATCH_NAME) == REPO / "patches" / PATCH_NAME
    with pytest.raises(EnvkitError, match=r"lerobot-9\.9\.9-npu\.patch.*not shipped.*lerobot-0\.4\.2-npu\.patch"):
        patch_path("lerobot-9.9.9-npu.patch")


def test_atlas_profile_names_this_patch() -> None:
    profile = tomllib.loads((REPO / "profiles" / "atlas-a2.toml").read_text())
    assert profile["lerobot"]["patch"] == PATCH_NAME
    assert profile["lerobot"]["source"] == "lerobot==0.4.2"
    assert patch_path(profile["lerobot"]["patch"]).is_file()


def test_patch_touches_only_the_three_files_with_source_relative_paths() -> None:
    hunks = parse_hunks(patch_text(), PATCH_NAME)
    assert {h.path for h in hunks} == set(PATCHED_FILES)
    headers = [ln for ln in patch_text().splitlines() if ln.startswith(("--- ", "+++ "))]
    assert all(re.match(r"^(--- a|\+\+\+ b)/src/lerobot/", ln) for ln in headers), headers


def test_every_added_block_carries_a_marker_listed_in_PATCH_MARKERS() -> None:
    """PATCH_MARKERS and the markers in the patch's added lines are the same set, per file."""
    in_patch: dict[str, set[str]] = {}
    current = None
    for line in patch_text().splitlines():
        if line.startswith("+++ "):
            current = line[4:].split("/lerobot/", 1)[1]
        elif line.startswith("+") and MARKER_TAG in line:
            in_patch.setdefault(current, set()).update(re.findall(rf"{MARKER_TAG}\([a-z0-9-]+\)", line))
    assert in_patch == {rel: set(markers) for rel, markers in PATCH_MARKERS.items()}
    # No marker may already occur in the unpatched text (context or removed lines).
    unpatched = "\n".join(ln for ln in patch_text().splitlines() if ln[:1] in (" ", "-"))
    assert MARKER_TAG not in unpatched


def test_patch_keeps_the_tree_hardware_neutral() -> None:
    """No unconditional torch_npu import and no transfer_to_npu; cuda strings keep startswith."""
    added = [ln[1:] for ln in patch_text().splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert not any("transfer_to_npu" in ln and "import" in ln for ln in added)
    imports = [ln for ln in added if re.match(r"\s*import torch_npu", ln)]
    assert imports == ["    import torch_npu  # noqa: F401"]  # indented: inside the find_spec guard
    assert not any('case "cuda"' in ln for ln in added)
    assert not any(ln.startswith("-") and 'startswith("cuda")' in ln for ln in patch_text().splitlines())


# --- applying to the real 0.4.2 sdist ------------------------------------------------------------


@pytest.mark.network
def test_applies_cleanly_then_reports_already_applied(tree: Path) -> None:
    patch = patch_path(PATCH_NAME)
    assert check_applies(tree, patch) == APPLIES
    before = verify_installed(tree)
    assert len(before) == len(PATCH_MARKERS)
    for rel in PATCH_MARKERS:
        assert any(entry.startswith(f"lerobot/{rel}: missing {MARKER_TAG}(") for entry in before), before

    assert apply(tree, patch) == APPLIED
    assert verify_installed(tree) == []
    after = tree_hashes(tree)

    assert check_applies(tree, patch) == ALREADY_APPLIED
    assert apply(tree, patch) == ALREADY_APPLIED
    assert tree_hashes(tree) == after  # the second apply wrote nothing


@pytest.mark.network
def test_patched_files_compile(patched: Path, tmp_path: Path) -> None:
    for rel in PATCHED_FILES:
        py_compile.compile(str(patched / rel), cfile=str(tmp_path / "out.pyc"), doraise=True)


@pytest.mark.network
def test_patch_applies_with_patch_p1_too(tree: Path) -> None:
    if shutil.which("patch") is None:
        pytest.skip("GNU patch is not installed")
    result = subprocess.run(
        ["patch", "-p1", "--dry-run", "--forward", "-i", str(patch_path(PATCH_NAME))],
        cwd=tree, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fuzz" not in result.stdout and "offset" not in result.stdout, result.stdout


@pytest.mark.network
def test_verify_installed_accepts_site_packages_and_package_dir(patched: Path, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    shutil.copytree(patched / "src" / "lerobot", site / "lerobot")
    assert verify_installed(site) == []
    assert verify_installed(site / "lerobot") == []
    (site / "lerobot" / "configs" / "train.py").unlink()
    assert verify_installed(site) == [f"lerobot/configs/train.py: file not found in {site / 'lerobot'}"]
    assert verify_installed(tmp_path / "empty") == [
        f"lerobot/{rel}: lerobot package not found under {tmp_path / 'empty'}" for rel in PATCH_MARKERS
    ]


@pytest.mark.network
def test_applies_to_a_tree_inside_another_git_repository(tmp_path: Path) -> None:
    """A cache inside a checkout: git must patch the tree itself, not resolve paths from the outer repo."""
    outer = tmp_path / "outer"
    outer.mkdir()
    subprocess.run(["git", "init", "-q", str(outer)], check=True)
    tree = extract("0.4.2", outer / ".cache")
    assert apply(tree, patch_path(PATCH_NAME)) == APPLIED
    assert verify_installed(tree) == []


# --- refusals: nothing is written ----------------------------------------------------------------


def corrupt_line_count(text: str) -> str:
    """Drop one added line from the first hunk: its header now over-counts the new side."""
    lines = text.splitlines(keepends=True)
    first_plus = next(i for i, ln in enumerate(lines) if ln.startswith("+") and not ln.startswith("+++"))
    del lines[first_plus]
    return "".join(lines)


def truncate_last_hunk(text: str) -> str:
    """Cut the file in the middle of its last hunk (a truncated download or copy)."""
    lines = text.splitlines(keepends=True)
    last_header = max(i for i, ln in enumerate(lines) if ln.startswith("@@"))
    return "".join(lines[: last_header + 3])


@pytest.mark.parametrize(
    ("mangle", "where"),
    [
        (corrupt_line_count, r"hunk #1 \(@@ -37,6 \+37,13 @@\) of src/lerobot/utils/utils\.py"),
        (truncate_last_hunk, r"hunk #1 \(@@ -106,7 \+106,10 @@\) of src/lerobot/configs/train\.py"),
    ],
)
@pytest.mark.network
def test_corrupt_patch_is_refused_before_anything_is_written(tree: Path, tmp_path: Path, mangle, where) -> None:
    bad = tmp_path / "bad.patch"
    bad.write_text(mangle(patch_text()))
    before = tree_hashes(tree)
    with pytest.raises(EnvkitError, match=rf"bad\.patch is corrupt at {where}"):
        check_applies(tree, bad)
    with pytest.raises(EnvkitError, match=r"bad\.patch is corrupt"):
        apply(tree, bad)
    assert tree_hashes(tree) == before


def test_corrupt_patch_is_refused_without_a_tree(tmp_path: Path) -> None:
    """The structure check needs no sdist: it runs before git sees the tree."""
    bad = tmp_path / "bad.patch"
    bad.write_text(corrupt_line_count(patch_text()))
    with pytest.raises(EnvkitError, match="declares 6 old/13 new lines, the body has 6/12"):
        check_applies(tmp_path, bad)
    empty = tmp_path / "empty.patch"
    empty.write_text("just words\n")
    with pytest.raises(EnvkitError, match="no unified-diff hunk"):
        check_applies(tmp_path, empty)


@pytest.mark.network
def test_modified_tree_is_refused_and_left_unchanged(tree: Path) -> None:
    train_cfg = tree / "src/lerobot/configs/train.py"
    original = "if not self.resume and isinstance(self.output_dir, Path)"
    assert original in train_cfg.read_text()
    train_cfg.write_text(train_cfg.read_text().replace(original, original.replace("Path)", "str)")))
    before = tree_hashes(tree)
    with pytest.raises(EnvkitError) as info:
        apply(tree, patch_path(PATCH_NAME))
    message = info.value.paragraph()
    assert "patch lerobot-0.4.2-npu.patch does not apply" in message
    assert "hunk #1 (@@ -106,7 +106,10 @@) of src/lerobot/configs/train.py" in message
    assert "use the lerobot 0.4.2 source tree this patch targets" in message
    assert tree_hashes(tree) == before  # utils.py and lerobot_train.py were not patched either


@pytest.mark.network
def test_missing_file_is_named(tree: Path) -> None:
    (tree / "src/lerobot/scripts/lerobot_train.py").unlink()
    with pytest.raises(EnvkitError, match=r"src/lerobot/scripts/lerobot_train\.py \(the file is missing"):
        check_applies(tree, patch_path(PATCH_NAME))


@pytest.mark.network
def test_partially_patched_tree_is_refused_with_a_fresh_tree_hint(tree: Path, tmp_path: Path) -> None:
    text = patch_text()
    only_utils = text[: text.index("--- a/src/lerobot/scripts/lerobot_train.py")]
    first = tmp_path / "utils-only.patch"
    first.write_text(only_utils)
    assert apply(tree, first) == APPLIED
    before = tree_hashes(tree)
    with pytest.raises(EnvkitError) as info:
        apply(tree, patch_path(PATCH_NAME))
    assert "of src/lerobot/utils/utils.py" in info.value.message
    assert "partially patched" in (info.value.fix or "")
    assert tree_hashes(tree) == before


@pytest.mark.network
def test_other_release_is_refused(tmp_path: Path) -> None:
    """0.4.4 changed lerobot_train.py's imports; the 0.4.2 patch must not go in half-way."""
    tree = extract("0.4.4", tmp_path)
    before = tree_hashes(tree)
    expected = r"does not apply to .*lerobot-0\.4\.4: hunk #1 .* of src/lerobot/scripts/lerobot_train\.py"
    with pytest.raises(EnvkitError, match=expected):
        apply(tree, patch_path(PATCH_NAME))
    assert tree_hashes(tree) == before


# --- behaviour of the patched code against an emulated torch -------------------------------------


class FakeDevice:
    """torch.device: 'type[:index]'; unknown types raise like torch does (npu only once registered)."""

    def __init__(self, spec: str, torch_module: types.ModuleType) -> None:
        kind, _, index = str(spec).partition(":")
        known = {"cpu", "cuda", "mps", "xpu"} | ({"npu"} if hasattr(torch_module, "npu") else set())
        if kind not in known:
            expected = ", ".join(sorted(known))
            raise RuntimeError(f"Expected one of {expected} device type at start of device string: {spec}")
        self.type = kind
        self.index = int(index) if index else None


def fake_torch(*, cuda: bool = False, npu: bool | None = None) -> types.ModuleType:
    """The module-level surface lerobot/utils/utils.py uses. npu=None: torch_npu not loaded."""
    torch = types.ModuleType("torch")
    def init(self, spec: str) -> None:
        FakeDevice.__init__(self, spec, torch)

    torch.device = type("device", (FakeDevice,), {"__init__": init})
    torch.dtype = type("dtype", (), {})
    torch.float32, torch.float64 = torch.dtype(), torch.dtype()
    torch.cuda = types.SimpleNamespace(is_available=lambda: cuda)
    torch.backends = types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: False))
    torch.xpu = types.SimpleNamespace(is_available=lambda: False)
    if npu is not None:
        torch.npu = types.SimpleNamespace(is_available=lambda: npu)
    return torch


def load_utils(path: Path, torch: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Import lerobot/utils/utils.py alone, its third-party imports replaced by stand-ins."""
    accelerate = types.ModuleType("accelerate")
    accelerate.Accelerator = type("Accelerator", (), {})
    ds_logging = types.ModuleType("datasets.utils.logging")
    ds_logging.disable_progress_bar = ds_logging.enable_progress_bar = lambda: None
    for name, module in {
        "torch": torch,
        "numpy": types.ModuleType("numpy"),
        "accelerate": accelerate,
        "datasets": types.ModuleType("datasets"),
        "datasets.utils": types.ModuleType("datasets.utils"),
        "datasets.utils.logging": ds_logging,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("envkit_test_lerobot_utils", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.network
def test_unpatched_utils_rejects_npu(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulation reproduces the upstream failure the patch fixes."""
    utils = load_utils(tree / "src/lerobot/utils/utils.py", fake_torch(npu=True), monkeypatch)
    with pytest.raises(ValueError, match="Unknown device npu. Supported devices are: cuda, mps, xpu or cpu."):
        utils.is_torch_device_available("npu")
    with pytest.raises(ValueError, match="Unknown device 'npu"):
        utils.is_amp_available("npu")
    assert utils.auto_select_torch_device().type == "cpu"


@pytest.mark.network
def test_patched_utils_on_an_ascend_host(patched: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    utils = load_utils(patched / "src/lerobot/utils/utils.py", fake_torch(cuda=False, npu=True), monkeypatch)
    assert utils.is_torch_device_available("npu") is True
    assert utils.is_torch_device_available("npu:1") is True
    assert utils.is_torch_device_available("cuda") is False
    device = utils.get_safe_torch_device("npu")
    assert (device.type, device.index) == ("npu", None)
    device = utils.get_safe_torch_device("npu:3")
    assert (device.type, device.index) == ("npu", 3)
    assert utils.auto_select_torch_device().type == "npu"
    assert utils.is_amp_available("npu") is True
    with pytest.raises(AssertionError):
        utils.get_safe_torch_device("cuda:0")  # still asserted, as upstream


@pytest.mark.network
@pytest.mark.parametrize("npu", [False, None], ids=["torch_npu-without-card", "no-torch_npu"])
def test_patched_utils_without_a_usable_npu(patched: Path, monkeypatch: pytest.MonkeyPatch, npu) -> None:
    utils = load_utils(patched / "src/lerobot/utils/utils.py", fake_torch(cuda=False, npu=npu), monkeypatch)
    assert utils.is_torch_device_available("npu") is False  # policy config then falls back, no crash
    assert utils.auto_select_torch_device().type == "cpu"
    with pytest.raises(AssertionError, match="no Ascend NPU is usable"):
        utils.get_safe_torch_device("npu")


@pytest.mark.network
def test_patched_utils_on_a_cuda_host_is_unchanged(patched: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[str] = []
    torch = fake_torch(cuda=True, npu=True)
    torch.npu = types.SimpleNamespace(is_available=lambda: probed.append("npu") or True)
    utils = load_utils(patched / "src/lerobot/utils/utils.py", torch, monkeypatch)
    assert utils.auto_select_torch_device().type == "cuda"
    assert probed == []  # npu is only probed after cuda, mps and xpu
    device = utils.get_safe_torch_device("cuda:0")
    assert (device.type, device.index) == ("cuda", 0)
    assert utils.get_safe_torch_device("cuda").type == "cuda"
    assert utils.is_torch_device_available("cuda:0") is True
    assert utils.is_torch_device_available("cpu") is True
    assert utils.is_amp_available("cuda") is True


@pytest.mark.network
def test_patched_utils_still_rejects_unknown_devices(patched: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    utils = load_utils(patched / "src/lerobot/utils/utils.py", fake_torch(npu=True), monkeypatch)
    supported = r"Unknown device tpu\. Supported devices are: cuda, mps, npu, xpu or cpu\."
    with pytest.raises(ValueError, match=supported):
        utils.is_torch_device_available("tpu")
    with pytest.raises(ValueError, match="npux"):
        utils.is_torch_device_available("npux")
    with pytest.raises(RuntimeError, match="device string: tpu"):
        utils.get_safe_torch_device("tpu")
    with pytest.raises(ValueError, match="Unknown device 'tpu"):
        utils.is_amp_available("tpu")
    assert utils.is_amp_available("mps") is False


def statement(source: str, predicate) -> ast.stmt:
    """The first statement in `source` matching `predicate`, compiled standalone."""
    return next(node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt) and predicate(node))


@pytest.mark.network
@pytest.mark.parametrize(("rank", "checks"), [(None, True), ("0", True), ("", True), ("1", False), ("7", False)])
def test_output_dir_check_runs_on_rank0_only(patched: Path, monkeypatch: pytest.MonkeyPatch, rank, checks) -> None:
    source = (patched / "src/lerobot/configs/train.py").read_text()
    assign = statement(source, lambda n: isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "is_rank0")
    guard = statement(source, lambda n: isinstance(n, ast.If) and "FileExistsError" in ast.unparse(n.body[0]))
    assert ast.unparse(guard.test).startswith("is_rank0 and (not self.resume)")
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    scope: dict = {"os": os}
    exec(compile(ast.Module([assign], []), "train.py", "exec"), scope)  # noqa: S102 (patched lerobot source)
    assert scope["is_rank0"] is checks


@pytest.mark.network
def test_train_script_imports_torch_npu_only_when_installed(
    patched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (patched / "src/lerobot/scripts/lerobot_train.py").read_text()
    tree = ast.parse(source)
    assert not any(
        isinstance(n, ast.ImportFrom) and (n.module or "").startswith("torch_npu") for n in ast.walk(tree)
    ), "transfer_to_npu (or any torch_npu.* import) must not be in the patched script"
    guard = statement(source, lambda n: isinstance(n, ast.If) and "find_spec('torch_npu')" in ast.unparse(n.test))
    code = compile(ast.Module([guard], []), "lerobot_train.py", "exec")

    monkeypatch.delitem(sys.modules, "torch_npu", raising=False)
    if importlib.util.find_spec("torch_npu") is None:  # a CPU/CUDA host: torch_npu not installed
        scope: dict = {"importlib": importlib}
        exec(code, scope)  # noqa: S102
        assert "torch_npu" not in scope

    (tmp_path / "torch_npu.py").write_text("LOADED = True\n")  # an Ascend host: torch_npu installed
    monkeypatch.syspath_prepend(str(tmp_path))
    scope = {"importlib": importlib}
    exec(code, scope)  # noqa: S102
    assert scope["torch_npu"].LOADED is True
    monkeypatch.delitem(sys.modules, "torch_npu", raising=False)
