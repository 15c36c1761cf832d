"""Small helpers the command modules share: JSON output and the profile/host/source inputs."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from envkit.host import detect
from envkit.hostfacts import load_host_file

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def host_facts(host_file: str | None) -> "HostFacts":
    """This machine's facts, or those of a --host FILE (plans for a 5090 are made on CI without one)."""
    if host_file:
        return load_host_file(host_file)

    return detect(suggest=False)  # the profile is given: no need to judge them all
