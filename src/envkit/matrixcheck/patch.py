"""`envkit matrix check --write-proposals FILE.patch`: every new release as a reviewable diff of compat.toml.

Pure: compat.toml's text and the drafted rows in, the edited text and a unified diff out. A release
whose row would repeat a verified row's facts (a PyAV patch release with the same avutil) joins that
row's version list; anything else is appended as a row of its own, `verified = false` when a field
needs a human (each such field says so in its comment). The result is parsed again before it is
offered, so a patch never breaks the matrix.
"""

from __future__ import annotations

import datetime as dt
import difflib
import tomllib
from dataclasses import dataclass
from typing import Any


from envkit.errors import EnvkitError
from envkit.matrixcheck.propose import HUMAN, Proposal, section_of

HEADER = "# envkit matrix proposals"
PATCH_PATH = "src/envkit/compat.toml"  # where compat.toml sits in envkit's repository (git apply / patch -p1)
# Row fields a patch release inherits when it joins an existing row (the list key, then the facts it must share).
JOINABLE = {"av": ("av", ("ffmpeg", "avutil"))}


@dataclass(frozen=True)
class Applied:
    proposal: Proposal
    how: str  # "joined <row>" | "new row" | "new row, verified = false"


def apply(text: str, proposals: list[Proposal]) -> tuple[str, list[Applied]]:
    """compat.toml with each proposal added; raises EnvkitError if the result would not parse."""
    applied: list[Applied] = []
    for p in proposals:
        joined = _join(text, p)
        if joined is not None:
            text, how = joined
        else:
            text = _append(text, p)
            how = "new row" + (", verified = false" if p.needs_human else "")
        applied.append(Applied(p, how))
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # a bug here, not the user's: say what it was
        raise EnvkitError(f"the drafted compat.toml does not parse ({exc}); no patch was written",
                          fix="report this with `envkit matrix check --json`; draft the rows one by one with envkit matrix propose") from None
    return text, applied


def unified(old: str, new: str, applied: list[Applied], index: str, today: dt.date | None = None) -> str:
    """The patch file: a header naming each proposal and its unverified fields, then the diff."""
    day = (today or dt.date.today()).isoformat()
    lines = [f"{HEADER} from {index} on {day}: review, then `git apply` (or `patch -p1`) in envkit's repository.",
             "# Fields marked NEEDS A HUMAN are unverified: fill them from the named source and set verified = true."]
    for a in applied:
        p = a.proposal
        extra = f"; {HUMAN}: {', '.join(p.needs_human)}" if p.needs_human else ""
        lines.append(f"# {p.package} {p.version}: {a.how}{extra}")
    diff = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                f"a/{PATCH_PATH}", f"b/{PATCH_PATH}")
    return "\n".join(lines) + "\n" + "".join(diff)


def _join(text: str, p: Proposal) -> tuple[str, str] | None:
    rule = JOINABLE.get(p.package)
    if rule is None or p.needs_human:
        return None
    list_key, shared = rule
    facts = {f.key: f.value for f in p.fields}
    rows = tomllib.loads(text).get(section_of(p.package), {}).get("rows", [])
    for n, row in enumerate(rows):
        if row.get("verified", True) is False or list_key not in row:
            continue
        if all(str(row.get(k)) == str(facts.get(k)) for k in shared):
            if p.version in row[list_key]:
                return None
            lines = text.splitlines(keepends=True)
            start, end = _row_span(lines, section_of(p.package), n)
            key_line = next(i for i in range(start, end) if lines[i].split("=", 1)[0].strip() == list_key)
            import tomlkit  # a heavy import, only where a proposal is written

            lines[key_line] = f"{list_key} = {tomlkit.item([*row[list_key], p.version]).as_string()}\n"
            source = next(f.source for f in p.fields if f.key == shared[-1])
            lines.insert(end, f"# {p.version}: `envkit matrix check --write-proposals` on {dt.date.today().isoformat()} ({source})\n")
            return "".join(lines), f"joined the row with {', '.join(f'{k} = {row.get(k)}' for k in shared)}"
    return None


def _row_span(lines: list[str], section: str, n: int) -> tuple[int, int]:
    """Line range of the n-th [[section.rows]]: from its header to the first blank line (compat.toml's layout)."""
    header = f"[[{section}.rows]]"
    start = [i for i, ln in enumerate(lines) if ln.strip() == header][n]
    end = start + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    return start, end


def _append(text: str, p: Proposal) -> str:
    """The drafted row after the section's last row (before any comment that leads the next table)."""
    header = f"[[{section_of(p.package)}.rows]]"
    block = p.toml()
    # Proposal.toml() renders a whole document: keep its comments and the row, under our header.
    body = [ln for ln in block.splitlines() if not ln.startswith(("[", f"[{section_of(p.package)}]"))]
    lines = text.splitlines(keepends=True)
    count = sum(1 for ln in lines if ln.strip() == header)
    if not count:
        return text.rstrip("\n") + "\n\n" + header + "\n" + "\n".join(body) + "\n"
    _, end = _row_span(lines, section_of(p.package), count - 1)
    comments = [ln for ln in body if ln.startswith("#")]
    values = [ln for ln in body if ln and not ln.startswith("#")]
    new = ["\n", *(c + "\n" for c in comments), header + "\n", *(v + "\n" for v in values)]
    return "".join(lines[:end] + new + lines[end:])


def proposals_json(applied: list[Applied]) -> list[dict[str, Any]]:
    return [{"package": a.proposal.package, "version": a.proposal.version, "how": a.how,
             "needs_human": a.proposal.needs_human} for a in applied]
