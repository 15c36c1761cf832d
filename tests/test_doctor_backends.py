"""The doctor asks the backends: which accelerator is present (their `detected`, as `envkit detect`),
which checks apply (their check modules), what the probe gathers (their fragments), which device
training gets (their `device`). Scenarios are the transcribed ones under tests/data/probe."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from envkit.accel.ascend.facts import ascend
from envkit.accel.cuda.facts import nvidia
from envkit.accel.registry import get_backend
from envkit.doctor import accel, registry
from envkit.doctor.model import Context, Status
from envkit.doctor.smoke import device_for
from envkit.hostfacts import HostFacts
from envkit.record.verdicts import replay_context

PROBE = Path(__file__).parent / "data" / "probe"
DOCTOR = Path(__file__).resolve().parents[1] / "src" / "envkit" / "doctor"


def _run(ctx: Context) -> dict:
    return {r.id: r for r in registry.run_checks(registry.select(registry.all_checks(), smoke=False), ctx)}


def _with_host(ctx: Context, **changes) -> Context:  # type: ignore[no-untyped-def]
    host = ctx.host.to_dict()
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = host
        for p in parents:
            node = node[p]
        node[key] = value
    return Context(probe=ctx.probe, host=host, profile=ctx.profile, resolved=ctx.resolved)


def test_context_host_is_typed_even_from_a_partial_transcription() -> None:
    ctx = replay_context(PROBE / "rtx5090-torch271-pypi")
    assert isinstance(ctx.host, HostFacts)
    assert nvidia(ctx.host).gpus[0].compute_capability == "12.0"
    assert ctx.host.os.system == "unknown"  # the public report did not say; no check reads it
    assert isinstance(Context(probe={}, host={}).host, HostFacts)


def test_npu_smi_without_device_nodes_is_an_ascend_host_for_detect_and_doctor_alike() -> None:
    """Where the two rules used to disagree: a container started with npu-smi and the driver mounted
    but no --device flags. The doctor's old rule (any /dev node, or chips listed by npu-smi) said
    "no Ascend NPU" and skipped npu.devices; detect's rule (npu-smi seen) says Ascend, and now the
    doctor says what is wrong: the container lacks /dev/davinci*."""
    base = replay_context(PROBE / "atlas-a2-lerobot-unpatched")
    ctx = _with_host(base, container="docker", ascend__device_nodes=[], ascend__npu_smi__chips=[])
    old_rule = bool(ascend(ctx.host).device_nodes or (ascend(ctx.host).npu_smi and ascend(ctx.host).npu_smi.chips))
    assert not old_rule
    assert get_backend("ascend").detected(ctx.host)
    assert ctx.uses("ascend") and ctx.backend.name == "ascend" and device_for(ctx) == "npu"
    result = _run(ctx)["npu.devices"]
    assert result.status == Status.FAIL and "without /dev/davinci" in result.summary
    assert "--device=/dev/davinci0" in result.fix


def test_a_davinci_manager_node_alone_is_no_ascend_host() -> None:
    """The other disagreement: /dev/davinci_manager without a chip node or npu-smi. The old doctor
    rule ran the npu checks (CANN "not installed" on a GPU box); detect's rule finds no NPU."""
    base = replay_context(PROBE / "rtx5090-torch280-driver570")
    ctx = _with_host(base, ascend__device_nodes=["/dev/davinci_manager"])
    assert not get_backend("ascend").detected(ctx.host) and not ctx.uses("ascend")
    results = _run(ctx)
    assert {results[i].status for i in ("npu.cann", "npu.devices", "npu.lerobot")} == {Status.SKIP}
    assert ctx.backend.name == "cuda" and device_for(ctx) == "cuda"


@pytest.mark.parametrize("name", sorted(p.name for p in PROBE.iterdir() if (p / "host.json").is_file()))
def test_doctor_presence_is_each_backends_detection(name: str) -> None:
    ctx = replay_context(PROBE / name)
    for backend in accel.installed():
        if not accel.is_fallback(backend):
            assert ctx.uses(backend.name) == backend.detected(ctx.host), backend.name
    assert ctx.backend.detected(ctx.host)
    assert device_for(ctx) == ctx.backend.device


def test_profile_names_the_backend_and_its_device() -> None:
    from envkit.profiles import load_profile

    base = replay_context(PROBE / "rtx5090-torch280-driver570")
    ctx = Context(probe=base.probe, host=base.host, profile=load_profile("cpu"))
    assert ctx.backend.name == "cpu" and device_for(ctx) == "cpu"
    assert ctx.uses("cuda")  # the GPU is still there: the cuda checks still run
    assert Context(probe={}, host={}).backend.name == "cpu"


def test_checks_come_from_each_backends_check_module() -> None:
    checks = registry.all_checks()
    for backend in accel.installed():
        module = accel.checks_module(backend)
        if module is None:
            continue
        ids = {c.id for c in module.CHECKS}
        assert ids and ids <= {c.id for c in checks}
        train = next(c for c in checks if c.id == "smoke.train")
        assert set(getattr(module, "SMOKE_NEEDS", ())) <= set(train.needs)


def test_a_backend_module_adds_checks_and_smoke_needs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "extra_doctor_checks.py").write_text(
        "from envkit.doctor.model import Check, ok\n"
        "CHECKS = [Check('extra.thing', 'an extra accelerator check', lambda ctx: ok('fine'))]\n"
        "SMOKE_NEEDS = ('extra.thing',)\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Extra:
        name, device, checks_module, probe_fragment = "extra", "extra", "extra_doctor_checks", None

        def detected(self, host: HostFacts) -> bool:
            return False

    installed = accel.installed()
    monkeypatch.setattr(accel, "installed", lambda: [*installed, Extra()])
    checks = registry.all_checks()
    assert "extra.thing" in {c.id for c in checks}
    assert "extra.thing" in next(c for c in checks if c.id == "smoke.train").needs
    results = registry.run_checks(registry.select(checks, ["extra"]), Context(probe={}, host={}))
    assert [(r.id, r.status) for r in results] == [("extra.thing", Status.OK)]


# Files of the doctor (and the target-interpreter pieces it shares with launch, ../targetenv/) that
# must stay free of accelerator names: only the backends' check modules and probe fragments know them.
GENERIC = ["model.py", "smoke.py", "report.py", "collect.py", "../targetenv/probe.py", "registry.py", "accel.py", "facts.py",
           "verdict.py", "../targetenv/layout.py", "target.py", "checks/torch.py", "checks/video.py", "checks/smoke.py",
           "checks/system.py", "checks/lerobot.py", "checks/hooks.py", "checks/dataset.py", "checks/_util.py"]


def _named(node: ast.AST, names: set[str]) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.lower() in names]


@pytest.mark.parametrize("rel", GENERIC)
def test_no_branch_on_an_accelerator_name(rel: str) -> None:
    """No comparison with an accelerator's name or device, no name -> name table, no torch.cuda-style
    attribute. Reading a fact torch itself names (torch.version.cuda, as probe key "cuda") is not a branch."""
    names = {n for b in accel.installed() if not accel.is_fallback(b) for n in (b.name, b.device)}
    tree = ast.parse((DOCTOR / rel).read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and _named(node.value, names):
            found.append(f"line {node.lineno}: returns {node.value.value!r}")
        if isinstance(node, (ast.Compare, ast.match_case)):
            found += [f"line {c.lineno}: compares with {c.value!r}" for c in _named(node, names)]
        if isinstance(node, ast.Dict) and any(k is not None and _named(k, names) and isinstance(v, ast.Constant) and _named(v, names)
                                              for k, v in zip(node.keys, node.values)):
            found.append(f"line {node.lineno}: a table from accelerator names to names")
        if isinstance(node, ast.Attribute) and node.attr.lower() in names:
            found.append(f"line {node.lineno}: .{node.attr}")
    assert not found, f"{rel} branches on an accelerator: {found}"


def test_probe_gathers_what_the_backends_fragments_ask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fragment's extra distributions and environment prefixes reach the probe's document (the
    fragment runs in the target interpreter, here this test's own Python, which has pytest)."""
    from envkit.doctor.collect import run_probe
    from envkit.doctor.target import Target

    fragment = tmp_path / "frag.py"
    fragment.write_text("DISTS = {'pytest_as_named': ('no-such-dist', 'pytest')}\n"
                        "ENV_PREFIXES = ('ENVKIT_FRAGTEST_',)\n"
                        "def probe(torch):\n    return {'seen': True}\n")
    monkeypatch.setenv("ENVKIT_FRAGTEST_VISIBLE", "0,1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    doc = run_probe(Target(Path(sys.executable), None, "--python"), fragments=[("fragtest_facts", fragment.read_text())])
    assert doc["dists"]["pytest_as_named"] == __import__("pytest").__version__
    assert doc["env"]["ENVKIT_FRAGTEST_VISIBLE"] == "0,1"
    assert "CUDA_VISIBLE_DEVICES" not in doc["env"]  # only the fragments given name their variables


def test_installed_backends_name_importable_fragments() -> None:
    frags = dict(accel.probe_fragments())
    assert {"cuda_facts", "npu_facts"} <= set(frags)  # the keys recorded scenarios carry
    for source in frags.values():  # standard library only: they run in the target interpreter
        tree = ast.parse(source)
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert imported <= set(sys.stdlib_module_names) | {"torch_npu", "__future__"}, imported


def test_a_check_module_that_does_not_import_is_one_failing_check(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        name, device, checks_module, probe_fragment = "broken", "broken", "no_such_module_for_envkit_tests", None

        def detected(self, host: HostFacts) -> bool:
            return False

    installed = accel.installed()
    monkeypatch.setattr(accel, "installed", lambda: [*installed, Broken()])
    checks = registry.all_checks()
    results = registry.run_checks(registry.select(checks, ["broken"]), Context(probe={}, host={}))
    assert [(r.id, r.status) for r in results] == [("broken.checks", Status.FAIL)]
    assert "no_such_module_for_envkit_tests" in results[0].summary and "reinstall" in results[0].fix
    assert {"cuda.driver", "npu.cann"} <= {c.id for c in checks}  # the others still run


def test_each_backend_reports_the_keys_it_declares() -> None:
    """report.versions takes each backend's keys from its check module; fleet relies on report_keys."""
    from envkit.doctor import report

    ctx = replay_context(PROBE / "atlas-a2-torch-npu-mismatch")
    versions = report.versions(ctx)
    for backend in accel.installed():
        module = accel.checks_module(backend)
        share = module.versions(ctx) if module is not None and hasattr(module, "versions") else {}
        assert tuple(share) == tuple(backend.report_keys), backend.name
        assert set(share) <= set(versions)
    assert versions["torch_npu"] == ctx.dist("torch_npu") and versions["cann"] == ascend(ctx.host).cann.version


def test_torch_profile_compares_the_accelerator_blocks_distributions() -> None:
    """torch.profile reads the resolved tuple's accelerator block (what setup verifies), not a per-vendor field."""
    from envkit.profiles import load_profile
    from envkit.record.verdicts import _resolve

    base = replay_context(PROBE / "atlas-a2-torch-npu-mismatch")
    profile = load_profile("atlas-a2")
    resolved = _resolve(profile, base.host)
    assert resolved is not None and dict(resolved.accel.verify)["torch_npu"]
    ctx = Context(probe=base.probe, host=base.host, profile=profile, resolved=resolved)
    result = _run(ctx)["torch.profile"]
    assert result.status == Status.FAIL
    assert f"torch_npu {ctx.dist('torch_npu')} (profile: {dict(resolved.accel.verify)['torch_npu']})" in result.summary


def test_each_backends_checks_carry_its_check_prefixes() -> None:
    """--check <category> and the report's sections stay per accelerator."""
    for backend in accel.installed():
        module = accel.checks_module(backend)
        if module is not None:
            assert all(c.id.startswith(tuple(backend.check_prefixes)) for c in module.CHECKS), backend.name


@pytest.mark.slow
def test_a_raising_fragment_spoils_only_its_own_facts(healthy_env: Path, tmp_path: Path) -> None:
    """In a real torch env: the built-in fragments report as before, a broken one gets probe_error."""
    from envkit.doctor.collect import run_probe
    from envkit.doctor.target import resolve_target

    broken = tmp_path / "broken.py"
    broken.write_text("def probe(torch):\n    raise RuntimeError('vendor runtime exploded')\n")
    doc = run_probe(resolve_target(prefix=healthy_env), fragments=[*accel.probe_fragments(), ("broken_facts", broken.read_text())])
    torch = doc["torch"]
    assert torch["version"].startswith("2.14.1")
    assert torch["cuda_facts"]["built"] is bool(torch.get("cuda")) and "arch_list" in torch["cuda_facts"]
    assert torch["npu_facts"]["torch_npu"] is None
    assert torch["broken_facts"]["probe_error"]["message"] == "vendor runtime exploded"


def test_a_fragment_can_be_a_function_in_the_check_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """probe_fragment = "module:function": the function's source travels alone, with its module's
    DISTS/ENV_PREFIXES as literals, so the envkit imports beside it stay behind."""
    (tmp_path / "extra_checks_with_probe.py").write_text(
        "from envkit.doctor.model import Check\n"
        "DISTS = {'extra_rt': ('extra-runtime',)}\n"
        "ENV_PREFIXES = ('EXTRA_',)\n"
        "CHECKS: list = []\n"
        "def gather(torch):\n    import os\n    return {'pid': os.getpid(), 'torch': torch.__version__}\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Extra:
        name, device, checks_module, probe_fragment = "extra", "cpu", "extra_checks_with_probe", "extra_checks_with_probe:gather"

    [(key, source)] = accel.probe_fragments([Extra()])  # type: ignore[list-item]
    assert key == "extra_facts"
    space: dict = {}
    exec(compile(source, "fragment", "exec"), space)  # what the target runs: no envkit import in it
    assert "from envkit" not in source and "import envkit" not in source
    assert space["DISTS"] == {"extra_rt": ("extra-runtime",)} and space["ENV_PREFIXES"] == ("EXTRA_",)
    assert space["probe"] is space["gather"]  # the name the probe calls
