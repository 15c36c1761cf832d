"""manifest.json: what each locked (layer, platform) was made from, so `--check` can name what changed.

Recorded as inputs: the resolved tuple's digest, the profile's digest, the matrix rows used, the
lerobot source, exclude_newer, the indexes/channels and --wheels hashes. A layer is stale when one
of these changes. Recorded beside them, under "tools", the version of the tool that resolved it
(uv): never an input, so a new uv release does not make a lock stale or change a content hash;
`lock --check --resolve` re-resolves with today's tool and compares the packages instead. Not
envkit's own version either: upgrading envkit alone does not make a lock stale.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envkit.compat import matrix
from envkit.errors import EnvkitError
from envkit.fsutil import atomic_write, file_digest
from envkit.secrets import redact

if TYPE_CHECKING:
    from envkit.profiles import Profile
    from envkit.resolve import Resolved

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1
# Tools whose version is recorded per layer but is not an input (manifests before this kept "uv"
# among the inputs; it is read from there too).
TOOLS = ("uv",)

LABELS = {
    "resolved": "the resolved tuple (envkit resolve --profile {profile} --platform {platform})",
    "profile": "profile '{profile}' ({path})",
    "matrix_rows": "the compatibility-matrix rows it uses ({rows})",
    "lerobot_source": "the lerobot source",
    "exclude_newer": "exclude_newer",
    "indexes": "the package indexes",
    "wheels": "the --wheels files",
    "channels": "the conda channels",
    "specs": "the conda specs",
    "virtual_packages": "the virtual packages",
}


def matrix_keys(r: "Resolved") -> list[tuple[str, str]]:
    """The matrix rows the tuple uses; the accelerator block names its own share (order does not matter)."""
    keys = [("torch", r.torch["version"])]
    if r.torchcodec:
        keys.append(("torchcodec", r.torchcodec))
    if r.lerobot.get("version"):
        keys.append(("lerobot", r.lerobot["version"]))
    keys.append(("ffmpeg", str(r.ffmpeg["major"])))
    return keys + list(r.accel.matrix_keys)


def common_inputs(profile: "Profile", r: "Resolved", exclude_newer: str) -> dict[str, Any]:
    return {"resolved": r.digest(), "profile": profile.digest(), "matrix_rows": matrix().row_digest(*matrix_keys(r)),
            "exclude_newer": exclude_newer}


def pypi_inputs(profile: "Profile", r: "Resolved", exclude_newer: str, wheels: dict[str, str] | None) -> dict[str, Any]:
    out = common_inputs(profile, r, exclude_newer)

    # The manifest is committed: an index or git URL is recorded without its credentials (a rotated
    # password is not a changed input either).
    source = r.lerobot["source"].get("text") or r.lerobot["source"].get("requirement")
    out["lerobot_source"] = redact(source, environ={}) if source else source
    out["indexes"] = [] if wheels is not None else [redact(i["url"], environ={}) for i in r.indexes]
    if wheels is not None:
        out["wheels"] = dict(sorted(wheels.items()))
    return out


def conda_inputs(profile: "Profile", r: "Resolved", exclude_newer: str, channels: list[str]) -> dict[str, Any]:
    out = common_inputs(profile, r, exclude_newer)
    out["channels"] = list(channels)
    out["specs"] = list(r.conda["specs"])
    out["virtual_packages"] = dict(sorted(r.conda["virtual_packages"].items()))
    return out


def inputs_of(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's inputs without tool versions (an older manifest kept uv's there)."""
    return {k: v for k, v in entry["inputs"].items() if k not in TOOLS}


def tools_of(entry: dict[str, Any]) -> dict[str, str]:
    """{tool: version} that resolved an entry, wherever the manifest kept it."""
    legacy = {k: v for k, v in entry["inputs"].items() if k in TOOLS}
    tools = entry.get("tools")
    return {**legacy, **(tools if isinstance(tools, dict) else {})}


def inputs_digest(inputs: dict[str, Any]) -> str:
    """The content hash of a platform's inputs; tool versions never reach it."""
    inputs = {lay: {k: v for k, v in vals.items() if k not in TOOLS} for lay, vals in inputs.items()}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    return file_digest(path)


def empty(profile: str) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "profile": profile, "layers": {}, "outputs": {}}


def read(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise EnvkitError(f"{path} is not valid JSON ({exc})", fix=f"re-lock: envkit lock --profile {root.name}") from None
    if not isinstance(data, dict):
        raise EnvkitError(f"{path} holds a JSON {type(data).__name__}, not the manifest object envkit writes "
                          "(schema_version, profile, layers, outputs)",
                          fix=f"restore it from version control, or re-lock: envkit lock --profile {root.name}")
    if data.get("schema_version") != SCHEMA_VERSION or not isinstance(data.get("layers"), dict):
        raise EnvkitError(f"{path} has an unknown layout (schema_version {data.get('schema_version')!r})",
                          fix=f"re-lock with this envkit: envkit lock --profile {root.name}")
    _validate(path, root, data)
    return data


def _validate(path: Path, root: Path, data: dict[str, Any]) -> None:
    """Every field `--check` and `--from-lock` read has the shape `envkit lock` writes."""
    def bad(where: str, why: str) -> EnvkitError:
        return EnvkitError(f"{path}: {where} {why}", fix=f"restore it from version control, or re-lock: envkit lock --profile {root.name}")

    if not isinstance(data.get("profile"), str):
        raise bad("'profile'", "must be the profile name (a string)")
    if not isinstance(data.get("outputs", {}), dict) or not all(isinstance(v, str) for v in data.get("outputs", {}).values()):
        raise bad("'outputs'", "must map file names to sha256 strings")
    for layer, platforms in data["layers"].items():
        if not isinstance(platforms, dict):
            raise bad(f"layers.{layer}", f"is a {type(platforms).__name__}, not an object of platform -> entry")
        for platform, entry in platforms.items():
            where = f"layers.{layer}.{platform}"
            if not isinstance(entry, dict):
                raise bad(where, f"is a {type(entry).__name__} ({json.dumps(entry)[:40]}), not an entry object with 'inputs'")
            if not isinstance(entry.get("inputs"), dict):
                raise bad(f"{where}.inputs", "is missing or not an object")
            if layer == "pypi" and not isinstance(entry.get("file"), str):
                raise bad(f"{where}.file", "is missing or not a file name")
            if layer == "pypi" and ("/" in entry["file"] or "\\" in entry["file"] or entry["file"] in ("", ".", "..")):
                raise bad(f"{where}.file", f"is {entry['file']!r}, not a file name inside {root} (a lock never points elsewhere)")
            if not isinstance(entry.get("tools", {}), dict):
                raise bad(f"{where}.tools", "must map tool names to versions")
            if not isinstance(entry.get("find_links", []), list):
                raise bad(f"{where}.find_links", "must be a list")


def write(root: Path, data: dict[str, Any]) -> None:
    atomic_write(root / MANIFEST, json.dumps(data, indent=2, sort_keys=True) + "\n")


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Names of the inputs whose value changed (in LABELS order, then any others)."""
    keys = [k for k in LABELS if k in old or k in new] + sorted((set(old) | set(new)) - set(LABELS))
    return [k for k in keys if old.get(k) != new.get(k)]


def describe(key: str, old: Any, new: Any, **ctx: str) -> str:
    label = LABELS.get(key, key).format(**ctx)
    if key in ("exclude_newer", "lerobot_source", "channels", "specs", "virtual_packages", "indexes"):
        return f"{label} changed ({old!r} -> {new!r})"
    if old is None:
        return f"{label} was not recorded"
    return f"{label} changed"
