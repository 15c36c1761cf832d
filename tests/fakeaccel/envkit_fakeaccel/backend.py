"""The FakeAccel backend: everything envkit needs to know about this accelerator, in one module.

The hardware is made up (tests only): device nodes /dev/fakeaccelN and a `fakeaccel-smi --list`
tool that prints one chip per line ("<index> <name> <health>"). Torch is PyPI's build plus the
vendor's runtime package, like torch_npu beside a CPU torch.
"""

from __future__ import annotations

import re
from typing import Any

from envkit.accel.base import AcceleratorBlock, ChoiceContext, Conflict, HookData, TorchChoice, WheelNeed, common_block
from envkit.fields import Field, matches, regex

NAME = "fakeaccel"
# What the vendor's env.sh changes: the hook saves these and restores them on deactivation.
ENV_SH_VARS = ("FAKEACCEL_HOME", "LD_LIBRARY_PATH")


class FakeAccelBackend:
    name = NAME
    title = "FakeAccel chip"
    check_prefixes = ("fakeaccel.",)
    device = "cpu"  # lerobot has no FakeAccel device: it trains on the CPU torch this backend installs
    visible_devices_var: str | None = "FAKEACCEL_VISIBLE_DEVICES"
    slurm_gres = None
    collective = "gloo"
    report_keys = ("fakeaccel_runtime",)
    profile_fields: dict[str, dict[str, Any]] = {
        "packages": {"fakeaccel_runtime": Field("str", "the FakeAccel runtime version, e.g. '1.2.0'",
                                                check=matches(r"\d+\.\d+\.\d+", "a version like '1.2.0'"))},
        "hardware": {"chip": Field("str", "the FakeAccel chip model"),
                     "env_sh": Field("list[str]", "the vendor's env.sh candidates")},
        "match": {"chip_name": Field("str", "a regular expression searched in fakeaccel-smi's chip names", check=regex)},
    }

    # --- detect ---

    def collect(self, boundary: Any) -> dict[str, Any] | None:
        nodes = sorted(n for n in boundary.glob("/dev/fakeaccel*") if n.removeprefix("/dev/fakeaccel").isdigit())
        if not nodes:
            return None
        chips = []
        smi = boundary.which("fakeaccel-smi")
        result = boundary.run([smi, "--list"], timeout=10.0) if smi else None
        if result is not None and result.returncode == 0:
            for line in result.stdout.splitlines():
                m = re.fullmatch(r"\s*(\d+)\s+(\S+)\s+(\S+)\s*", line)
                if m:
                    chips.append({"index": int(m[1]), "name": m[2], "health": m[3]})
        return {"device_nodes": nodes, "smi": smi, "chips": chips}

    def detect_warnings(self, host: Any) -> list[str]:
        return []

    def describe(self, host: Any) -> str | None:
        facts = host.accelerators.get(self.name)
        return f"{len(facts['device_nodes'])} x FakeAccel" if facts else None

    def _facts(self, host: Any) -> dict[str, Any]:
        return dict(getattr(host, "accelerators", {}).get(NAME) or {})

    def detected(self, host: Any) -> bool:
        return bool(self._facts(host).get("device_nodes"))

    def host_rows(self, host: Any) -> list[tuple[str, str]]:
        facts = self._facts(host)
        if not facts:
            return []
        rows = [(NAME, f"{len(facts['device_nodes'])} device nodes, fakeaccel-smi {facts.get('smi') or 'missing'}")]
        rows += [(f"  chip {c['index']}", f"{c['name']}, {c['health']}") for c in facts.get("chips", [])]
        return rows

    def matches(self, match: dict[str, Any], host: Any) -> str | None:
        facts = self._facts(host)
        if not facts.get("device_nodes"):
            return None
        chips = facts.get("chips", [])
        if "chip_name" in match:
            pattern = re.compile(match["chip_name"], re.IGNORECASE)
            if not chips or not all(pattern.search(c["name"]) for c in chips):
                return None
            return f"{len(chips)} FakeAccel chips named like {match['chip_name']!r}"
        return f"{len(facts['device_nodes'])} FakeAccel device nodes"

    def host_warnings(self, ctx: ChoiceContext, host: Any) -> list[str]:
        if not self.detected(host):
            return [f"this host has no FakeAccel chip; the tuple is for the profile's target ({ctx.profile.hardware.get('chip', 'FakeAccel')})"]
        return []

    # --- profiles ---

    def check_profile(self, profile: Any, bad: Any) -> None:
        if "fakeaccel_runtime" not in profile.packages:
            raise bad("accelerator 'fakeaccel' needs 'packages.fakeaccel_runtime'", "add packages.fakeaccel_runtime = \"1.2.0\"")

    # --- resolve ---

    def choose_torch(self, ctx: ChoiceContext, candidates: list[str]) -> TorchChoice:
        from packaging.version import Version

        from envkit.compat import matrix

        if not candidates:
            raise Conflict(f"No torch in '{ctx.profile.packages['torch']}' for Python {ctx.python}", fix="widen packages.torch")
        version = max(candidates, key=Version)
        runtime = ctx.profile.packages["fakeaccel_runtime"]
        return TorchChoice(version, matrix().pypi_build(version, ctx.arch), extra={"runtime": runtime},
                           reasons=(f"torch {version}: newest in '{ctx.profile.packages['torch']}'; the FakeAccel runtime {runtime} "
                                    "drives the chip beside it",))

    def hook_env(self, ctx: ChoiceContext) -> dict[str, str]:
        return {"FAKEACCEL_LOG_LEVEL": "warning"}

    def block(self, ctx: ChoiceContext, choice: TorchChoice, torchvision: str) -> AcceleratorBlock:
        runtime = choice.extra["runtime"]
        hooks = HookData(env=self.hook_env(ctx), source_first=tuple(ctx.profile.hardware.get("env_sh", [])),
                         source_saves=ENV_SH_VARS, visible_devices_var=self.visible_devices_var)
        return common_block(
            NAME, choice, torchvision, hooks, key=NAME, data={"runtime": runtime},
            requirements=(("fakeaccel-runtime", f"fakeaccel-runtime=={runtime}"),),
            resolved_requirements=(f"fakeaccel-runtime=={runtime}",),
            verify=(("fakeaccel_runtime", runtime),), title=f", fakeaccel-runtime {runtime}",
            wheels=(WheelNeed("fakeaccel-runtime", runtime),),
            summary=(("fakeaccel runtime", runtime),),
        )

    # --- doctor ---
    checks_module: str | None = "envkit_fakeaccel.doctor_checks"
    probe_fragment: str | None = "envkit_fakeaccel.doctor_checks:probe"
    patch_markers: dict[str, tuple[str, ...]] = {}
    visible_devices_also: tuple[str, ...] = ()
    torch_version_attrs: tuple[str, ...] = ()
    device_runtime: str | None = None
    matrix_check: str | None = None
    matrix_sections: tuple[str, ...] = ()

    def matrix_row(self, data: dict[str, Any], kind: str, key: str) -> Any:
        raise KeyError(kind)

    # --- launch ---
    def launch_env(self, nproc: int) -> dict[str, str]:
        return {"FAKEACCEL_COLLECTIVE_TIMEOUT": "300"}

    def network_vars(self) -> tuple[tuple[str, str], ...]:
        return (("FAKEACCEL_SOCKET_IFNAME", "ifname"),)

    def launch_sources(self, host: Any) -> tuple[str, ...]:
        return ()  # the hook already sources env.sh; nothing more per process

    def device_count_code(self) -> str | None:
        return None  # its torch is the CPU build: nothing torch-side to count

    def host_device_count(self, host: Any) -> int | None:
        return len(self._facts(host).get("device_nodes") or ()) or None

    def failure_hints(self) -> list:
        from envkit.accel.base import LaunchHint

        return [LaunchHint("fakeaccel.link", r"FAKEACCEL_LINK_DOWN", "a FakeAccel chip link is down",
                           "run `fakeaccel-smi --list` and reseat the chip")]
