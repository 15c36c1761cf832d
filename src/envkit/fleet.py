"""A fleet's doctor reports, merged: hosts x checks, failures with their fixes, tuples that stray.

Pure: `parse_report` takes one host's `envkit doctor --json` text, `aggregate` takes the parsed
hosts and gives the merged view; only `load_dir` reads files. Fields of the doctor's JSON are read
by name and defensively (a report from an older or newer envkit still merges): `checks[].id`,
`checks[].status`, `checks[].summary`, `checks[].fix`, `ok`, `profile`, `envkit_version`,
`versions` (a flat name -> version map; missing means the tuple is unknown, not different).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envkit.accel.registry import all_backends
from envkit.errors import EnvkitError

RED = ("fail", "error")
# Keys of the tuple compared across hosts, in display order; each accelerator's backend adds its
# own (report_keys) before "envkit"; anything else in `versions` follows.
COMMON_KEYS = ("profile", "python", "torch", "torchvision", "torchcodec", "av", "lerobot", "ffmpeg")


def compared_keys() -> tuple[str, ...]:
    extra = [k for b in all_backends() for k in b.report_keys]
    return tuple(dict.fromkeys([*COMMON_KEYS, *extra, "envkit"]))


@dataclass(frozen=True)
class HostCheck:
    id: str
    status: str
    summary: str = ""
    fix: str | None = None


@dataclass
class HostReport:
    host: str
    source: str  # the file it came from, for messages
    ok: bool
    checks: list[HostCheck]
    tuple: dict[str, str | None]

    @property
    def red(self) -> bool:
        return not self.ok or any(c.status in RED for c in self.checks)

    @property
    def verdict(self) -> str:
        if self.red:
            return "red"
        return "yellow" if any(c.status == "warn" for c in self.checks) else "green"

    def status_of(self, check_id: str) -> str | None:
        for c in self.checks:
            if c.id == check_id:
                return c.status
        return None


@dataclass
class Fleet:
    hosts: list[HostReport]
    check_ids: list[str]  # every check any host ran, in first-seen order
    keys: list[str]  # tuple keys any host reports, display order
    majority: dict[str, str | None]  # key -> the value more than half the hosts share (None: not installed)
    split: list[str]  # keys without a strict majority: every host's value is shown as off
    strays: dict[str, dict[str, str | None]] = field(default_factory=dict)  # host -> {key: its value} off the majority

    @property
    def red(self) -> list[str]:
        return [h.host for h in self.hosts if h.red]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": {h.host: {"verdict": h.verdict, "ok": not h.red, "source": h.source, "tuple": h.tuple,
                               "strays": self.strays.get(h.host, {}),
                               "checks": {c.id: c.status for c in h.checks},
                               "problems": [{"id": c.id, "status": c.status, "summary": c.summary, "fix": c.fix}
                                            for c in h.checks if c.status in (*RED, "warn")]}
                      for h in self.hosts},
            "majority": self.majority,
            "split": self.split,
            "red": self.red,
            "ok": not self.red,
        }


def _bad(source: str, what: str) -> EnvkitError:
    return EnvkitError(f"{source} is not an `envkit doctor --json` report: {what}",
                       fix=f"regenerate it with `envkit doctor --json > HOST.json` on that host, or remove {source} from the directory")


def parse_report(host: str, text: str, source: str) -> HostReport:
    """One host's doctor JSON -> HostReport; EnvkitError naming `source` when it is not one."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise _bad(source, f"invalid JSON ({exc})") from None
    except RecursionError:
        raise _bad(source, "its JSON is nested too deep to be a doctor report") from None
    if not isinstance(doc, dict):
        raise _bad(source, f"the top level is a {type(doc).__name__}, not an object")
    raw_checks = doc.get("checks")
    if not isinstance(raw_checks, list):
        raise _bad(source, "it has no 'checks' list")
    checks = []
    for i, c in enumerate(raw_checks):
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not isinstance(c.get("status"), str):
            raise _bad(source, f"checks[{i}] has no 'id' and 'status' strings")
        checks.append(HostCheck(text_of(c["id"]), text_of(c["status"]), text_of(c.get("summary") or ""),
                                text_of(c["fix"]) if c.get("fix") else None))
    versions = doc.get("versions") if isinstance(doc.get("versions"), dict) else {}
    profile = doc.get("profile")
    if isinstance(profile, dict):  # a typed report may name the profile and the file it came from
        profile = profile.get("name")
    tup: dict[str, str | None] = {"profile": _str(profile), "envkit": _str(doc.get("envkit_version"))}
    tup.update({text_of(k): _str(v) for k, v in versions.items()})
    ok = doc.get("ok")
    return HostReport(text_of(host), source, bool(ok) if isinstance(ok, bool) else not any(c.status in RED for c in checks), checks, tup)


def _str(value: Any) -> str | None:
    return None if value is None else text_of(value)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def text_of(value: Any) -> str:
    """Text from a host's report as text: any JSON value as a string, control characters (ESC, BEL, CR,
    newlines) escaped as \\xNN, so a report can neither drive the terminal nor forge lines."""
    text = value if isinstance(value, str) else json.dumps(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def md_cell(text: str) -> str:
    """Host text in a Markdown table cell or code span: no column breaks, no closing backticks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def aggregate(hosts: list[HostReport]) -> Fleet:
    """Merge hosts: the union of checks, the majority tuple and each host's departures from it."""
    hosts = sorted(hosts, key=lambda h: h.host)
    check_ids: list[str] = []
    for h in hosts:
        check_ids += [c.id for c in h.checks if c.id not in check_ids]
    keys = [k for k in compared_keys() if any(k in h.tuple for h in hosts)]
    keys += sorted({k for h in hosts for k in h.tuple} - set(keys))
    majority: dict[str, str | None] = {}
    split: list[str] = []
    strays: dict[str, dict[str, str | None]] = {}
    for key in keys:
        # A host whose report lacks the key (an older envkit) is unknown there, not different;
        # a key present with null means "not installed" and is compared like any version.
        known = [h for h in hosts if key in h.tuple]
        counts = Counter(h.tuple[key] for h in known)
        value, n = counts.most_common(1)[0]
        # A strict majority only: with a 1-1 split there is no "odd one out", every host is shown.
        has_majority = n * 2 > len(known)
        if has_majority:
            majority[key] = value
        else:
            split.append(key)
        if len(counts) == 1:
            continue
        for h in known:
            if not has_majority or h.tuple[key] != value:
                strays.setdefault(h.host, {})[key] = h.tuple[key]
    return Fleet(hosts, check_ids, keys, majority, split, strays)


def load_dir(directory: Path) -> Fleet:
    """Read DIR/HOST.json for every host (the Ansible role fetches them so) and merge them."""
    if not directory.is_dir():
        raise EnvkitError(f"{directory}: no such directory of doctor reports",
                          fix="pass the directory the playbook fetched the reports into (envkit_report_dir, one HOST.json per host)")
    files = sorted(p for p in directory.glob("*.json") if p.is_file())
    if not files:
        raise EnvkitError(f"{directory} holds no HOST.json doctor reports",
                          fix="run the fleet playbook (ansible/playbooks/fleet.yml) first, or `envkit doctor --json > DIR/HOST.json` on each host")
    hosts = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise EnvkitError(f"{path} is unreadable ({exc})", fix=f"check its permissions, or remove {path}") from None
        hosts.append(parse_report(path.stem, text, str(path)))
    return aggregate(hosts)


# --- rendering ------------------------------------------------------------------------------------

MARK = {"ok": "✓", "warn": "!", "fail": "✗", "error": "☠", "skip": "-", None: " "}


def problem_rows(fleet: Fleet) -> list[tuple[str, str, str, str, str | None]]:
    """(host, check, status, summary, fix) for every failure, error and warning, hosts in order."""
    return [(h.host, c.id, c.status, c.summary, c.fix) for h in fleet.hosts for c in h.checks if c.status in (*RED, "warn")]


def interesting_checks(fleet: Fleet) -> list[str]:
    """Checks not ok (or skipped) on every host: the rows worth a line in the human matrix."""
    return [cid for cid in fleet.check_ids
            if any(h.status_of(cid) not in ("ok", "skip") for h in fleet.hosts)
            or len({h.status_of(cid) for h in fleet.hosts}) > 1]


def tuple_keys(fleet: Fleet) -> list[str]:
    """Tuple keys with a value on some host."""
    return [k for k in fleet.keys if any(h.tuple.get(k) is not None for h in fleet.hosts)]


def markdown(fleet: Fleet) -> str:
    names = [h.host for h in fleet.hosts]
    out = [f"## envkit fleet report: {len(names)} host(s), {len(fleet.red)} red", ""]
    out += ["| host | verdict | " + " | ".join(md_cell(k) for k in tuple_keys(fleet)) + " |", "|---|---|" + "---|" * len(tuple_keys(fleet))]
    for h in fleet.hosts:
        stray = fleet.strays.get(h.host, {})
        cells = [f"**{md_cell(h.tuple.get(k) or '-')}** ⚠" if k in stray else md_cell(h.tuple.get(k) or "-") for k in tuple_keys(fleet)]
        out.append(f"| {md_cell(h.host)} | {h.verdict} | " + " | ".join(cells) + " |")
    out += ["", "| check | " + " | ".join(md_cell(n) for n in names) + " |", "|---|" + "---|" * len(names)]
    for cid in fleet.check_ids:
        out.append(f"| `{md_cell(cid)}` | " + " | ".join(f"{MARK.get(h.status_of(cid), '?')} {md_cell(h.status_of(cid) or 'n/a')}" for h in fleet.hosts) + " |")
    problems = problem_rows(fleet)
    if problems:
        out += ["", "### Problems", ""]
        out += [f"- **{md_cell(host)}** `{md_cell(cid)}` {md_cell(status)}: {md_cell(summary)}" + (f" — fix: `{md_cell(fix)}`" if fix else "")
                for host, cid, status, summary, fix in problems]
    return "\n".join(out) + "\n"
