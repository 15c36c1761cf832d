"""Which torch builds setup installs where a profile prefers CPU-only builds ([cpu_builds]).

PyPI's Linux torch 2.14 wheels are CUDA builds: a CPU-only machine downloads ~3 GB of nvidia-*
and triton it can never use. The PyTorch CPU index (or a user's mirror of it) serves CPU builds
of the same versions (`torch==2.14.1` is satisfied by `2.14.1+cpu`). Where that index answers,
setup takes torch/torchvision/torchcodec from it; where it does not, PyPI's builds, and the plan
says so with the size cost. `choose` is pure; `probe` is the network edge.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envkit.resources import package_file
from envkit.secrets import http_request, redact_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class TorchBuilds:
    build: str  # "cpu": from the CPU index; "pypi": PyPI's (CUDA) builds
    index: dict[str, Any] | None  # {name, url, packages} when build == "cpu"
    why: str  # one sentence for the plan
    size: dict[str, Any] | None = None  # this build's {download_mb, install_mb, source, estimate}
    other_size: dict[str, Any] | None = None  # the alternative's, for the size cost

    @property
    def cpu_only(self) -> bool:
        """CPU-only builds from the [cpu_builds] index (not PyPI's default builds)."""
        return self.build == "cpu"

    def to_dict(self) -> dict[str, Any]:
        return {"build": self.build, "index": self.index, "why": self.why}


def sizes(accelerator: str, platform: str, torch: str, build: str) -> dict[str, Any] | None:
    """The recorded size of one build of the torch step (envkit/torch_sizes.toml), None when unknown."""
    data = tomllib.loads(package_file("torch_sizes.toml").read_text(encoding="utf-8"))
    for row in data.get("builds", []):
        if (row.get("accelerator"), row.get("platform"), row.get("torch"), row.get("build")) == (accelerator, platform, torch, build):
            return row
    return None


def size_text(size: dict[str, Any] | None) -> str:
    if not size:
        return "size not recorded for this build"
    approx = "~" if size.get("estimate") else "about "
    return (f"{approx}{size['download_mb'] / 1000:.1f} GB to download, {approx}{size['install_mb'] / 1000:.1f} GB installed"
            + (" (estimate)" if size.get("estimate") else ""))


def choose(cpu_builds: dict[str, Any] | None, unreachable: str | None, accelerator: str, platform: str, torch: str,
           url: str | None = None) -> TorchBuilds | None:
    """The build for the torch step: CPU builds when the profile asks for them and the index answered
    (`unreachable` is None), else PyPI's, with why. None when the profile has no [cpu_builds]."""
    if not cpu_builds:
        return None
    index = {**cpu_builds, "url": url or cpu_builds["url"]}
    cpu = sizes(accelerator, platform, torch, "cpu")
    pypi = sizes(accelerator, platform, torch, "pypi")
    if unreachable is None:
        return TorchBuilds("cpu", index, f"CPU-only builds from index '{index['name']}' ({redact_url(index['url'])}), which answered: "
                                         f"no CUDA libraries", cpu, pypi)
    cost = ""
    if cpu and pypi:
        cost = (f"; this costs ~{(pypi['download_mb'] - cpu['download_mb']) / 1000:.1f} GB more to download and "
                f"~{(pypi['install_mb'] - cpu['install_mb']) / 1000:.1f} GB more on disk than the CPU builds")
    return TorchBuilds("pypi", None, f"index '{index['name']}' ({redact_url(index['url'])}) is unreachable ({unreachable}), so PyPI's "
                                     f"builds, which bundle CUDA libraries unusable on a CPU{cost}; a reachable mirror: "
                                     f"envkit setup --cpu-index URL", pypi, cpu)


def probe(cpu_builds: dict[str, Any] | None, url: str | None = None, timeout: float = 5.0) -> str | None:
    """None when the CPU index (or the user's mirror) answers; else why not. Network: the setup command's edge."""
    if not cpu_builds:
        return None
    import urllib.request  # binds urllib.error too (urllib.request imports it)


    packages = cpu_builds.get("packages") or ["torch"]
    target = (url or cpu_builds["url"]).rstrip("/") + f"/{packages[0]}/"
    if target.startswith("file://"):
        return None if Path(target[7:]).is_dir() else f"{redact_url(target)} does not exist"
    # Stricter than the lock's probe: only an HTTP answer counts, so a flaky network never flips
    # the choice (and with it the torch step's inputs) on a re-run.
    try:
        with urllib.request.urlopen(http_request(target, "HEAD"), timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{type(reason).__name__}: {reason}"
