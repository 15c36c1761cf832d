"""The Ansible collection (ansible/) passes ansible-lint's production profile (config: ansible/.ansible-lint)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fleet_loopback import ANSIBLE_DIR


def test_ansible_lint_passes_on_the_collection(tmp_path: Path) -> None:
    lint = Path(sys.executable).with_name("ansible-lint")
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "NO_COLOR": "1"}
    proc = subprocess.run([str(lint), "--offline"], cwd=ANSIBLE_DIR, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Passed" in proc.stdout + proc.stderr
