"""Run the probe in the target interpreter (hooks applied) and gather the host facts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit import procs, secrets
from envkit.doctor import accel
from envkit.doctor.target import Target
from envkit.errors import EnvkitError
from envkit.host import detect
from envkit.targetenv import probe as probe_script

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts

PROBE_TIMEOUT_S = 300


def run_probe(target: Target, dataset: Path | None = None, environ: dict[str, str] | None = None,
              timeout: int = PROBE_TIMEOUT_S, weights: dict[str, Any] | None = None,
              fragments: list[tuple[str, str]] | None = None, caps: bool = True) -> dict[str, Any]:
    """One subprocess of the target's python: returns the probe's JSON document.

    `fragments`: (facts key, Python source) of the backends' probe fragments; default: every installed backend's.
    `caps`: also ask the installed lerobot what it accepts and does (caps_probe.py; imports its config classes).
    """
    source = Path(probe_script.__file__)  # the probe runs as a copied script, not as envkit code
    fragments = accel.probe_fragments() if fragments is None else fragments
    with tempfile.TemporaryDirectory(prefix="envkit-probe-") as tmp:
        # Run a copy from an empty directory: sys.path[0] is then that directory, so nothing
        # from envkit's package (model.py, report.py, ...) can shadow the target's modules.
        script = Path(tmp) / "envkit_probe.py"
        shutil.copy(source, script)
        argv = [str(target.python), str(script), "--secret-names", secrets.probe_rule()]
        for key, source in fragments:
            module = "envkit_fragment_" + "".join(c if c.isalnum() else "_" for c in key)
            (Path(tmp) / f"{module}.py").write_text(source, encoding="utf-8")
            argv += ["--fragment", f"{key}={module}"]
        for attr in accel.torch_version_attrs():
            argv += ["--torch-version", attr]
        if caps:  # the lerobot capability probe travels the same way, beside the probe
            shutil.copy(Path(__file__).with_name("caps_probe.py"), Path(tmp) / "envkit_caps_probe.py")
            argv += ["--caps", "envkit_caps_probe"]
        if dataset is not None:
            argv += ["--dataset", str(dataset)]
        if weights:  # which backbone file to look for, and which host to try resolving
            argv += ["--weights-file", weights["file"], "--weights-host", weights.get("host", "")]
        env = target.environ(environ if environ is not None else os.environ)
        try:
            # bounded: a target that floods stdout is stopped at MAX_CAPTURE, not buffered without end
            proc = procs.run_bounded(target.wrap(argv), env=env, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise EnvkitError(f"the probe in {target.python} did not finish in {timeout} s",
                              fix="run `envkit doctor --check system` to narrow it down; a hung GPU driver is a common cause", exit_code=1) from None
        except OSError as exc:
            raise EnvkitError(f"cannot run {target.python}: {exc}", fix="pass a working interpreter with --python") from None
    if proc.overflow:
        raise EnvkitError(f"{target.python} printed more than {procs.MAX_CAPTURE >> 20} MiB while the doctor's probe ran in it "
                          "(a wrapper or sitecustomize that floods its output?); it was stopped",
                          fix="pass the environment's real interpreter with --python ENV/bin/python, or --prefix ENV_ROOT")
    if proc.returncode == 97 and target.hook:
        raise EnvkitError(f"sourcing the activation hook {target.hook} failed: {proc.stderr.strip()[-400:]}",
                          fix=f"fix or remove {target.hook} (envkit setup rewrites it)", exit_code=1)
    docs = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                docs.append(json.loads(line))
            except ValueError:
                pass
    if not docs:
        # Nothing a probe prints came back: whatever this is, it is not a Python envkit can examine.
        what = f"{target.source} {target.prefix if target.source == '--prefix' and target.prefix else target.python}"
        stderr = " ".join(proc.stderr.split())[-300:]
        raise EnvkitError(
            f"{what} is not a Python interpreter the doctor can examine: running its probe with {target.python} "
            f"printed no probe facts (exit {proc.returncode}{': ' + stderr if stderr else ', no message'})",
            fix="pass the environment you train in: --prefix ENV_ROOT, or --python ENV_ROOT/bin/python (Python >= 3.8)")
    doc = docs[-1]
    if doc.pop("envkit_probe_partial", False):
        stage = doc.pop("envkit_probe_stage", "?")
        doc[stage] = _crashed(stage, proc.returncode, proc.stderr)
        doc["probe_crash"] = {"stage": stage, "exit": proc.returncode}
    return doc


def _crashed(stage: str, code: int, stderr: str) -> dict[str, Any]:
    """The section the interpreter died in, as that section's own error (torch: an import error)."""
    try:
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}"
    except ValueError:
        how = f"was killed by signal {-code}"
    what = "importing torch" if stage == "torch" else f"the probe's {stage} section"
    error = {"type": "crash", "message": f"the interpreter {how} while {what}", "traceback": stderr.strip()[-4000:]}
    return {"import_error": error} if stage == "torch" else {"probe_error": error}


def host_facts() -> "HostFacts":
    """This machine's host facts, as `envkit detect` reads them."""
    return detect()
