"""Version ranges: PEP 440 clause arithmetic and Poetry's constraint syntax.

Two jobs, both pure:
* `widen_pep440(spec, version)`: the smallest edit of a PEP 440 specifier text that admits one
  version: unchanged clauses keep their exact text, an upper bound moves just past the version
  (at the original's precision), a lower bound drops to the version.
* Poetry constraints (`^2.2.1`, `~1.2`, `1.2.*`, `>= 1.2, < 2`, `a || b`): translated to PEP 440
  ranges so packaging can judge them, and widened back into text Poetry accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import Version

# Derived bounds (from ^, ~, ==X.*) have no written precision of their own: use major.minor.
_DERIVED_PRECISION = 2


class ConstraintError(ValueError):
    """A constraint text that neither PEP 440 nor Poetry can read."""


@dataclass(frozen=True)
class Clause:
    """One comparison: `op` in PEP 440 terms, `version` as written (precision matters)."""

    op: str
    version: str

    def text(self) -> str:
        return f"{self.op}{self.version}"

    def admits(self, version: Version) -> bool:
        return Specifier(self.text()).contains(version, prereleases=True)


# --- version formatting ---------------------------------------------------------------


def _release(text: str) -> tuple[int, ...]:
    return Version(text.rstrip(".*")).release


def format_release(release: tuple[int, ...], precision: int) -> str:
    """`release` written with at least `precision` components (zero-padded), trailing zeros trimmed."""
    parts = list(release)
    while len(parts) > max(precision, 1) and parts[-1] == 0:
        parts.pop()
    parts += [0] * (precision - len(parts))
    return ".".join(str(p) for p in parts)


def upper_bound_for(version: Version, precision: int) -> str:
    """The smallest natural exclusive upper bound above `version`: next minor (next major for `<3`)."""
    if precision <= 1:
        return str(version.major + 1)
    return format_release((version.major, version.minor + 1), precision)


def lower_bound_for(version: Version, precision: int) -> str:
    """`version` itself as an inclusive lower bound, padded to the original's precision."""
    return format_release(version.release, precision)


# --- PEP 440 clause widening -----------------------------------------------------------


def _expand(clause: Clause) -> list[Clause]:
    """Rewrite the compound operators (~=, ==X.*) as a >=/< pair so each bound can move alone."""
    if clause.op == "~=":
        rel = _release(clause.version)
        upper = rel[:-2] + (rel[-2] + 1,)
        return [Clause(">=", clause.version), Clause("<", format_release(upper, _DERIVED_PRECISION))]
    if clause.op == "==" and clause.version.endswith(".*"):
        rel = _release(clause.version)
        upper = rel[:-1] + (rel[-1] + 1,)
        lower = format_release(rel, _DERIVED_PRECISION)
        return [Clause(">=", lower), Clause("<", format_release(upper, _DERIVED_PRECISION))]
    return [clause]


def _fix(clause: Clause, version: Version) -> list[Clause]:
    """Clauses replacing one that excludes `version`; [] drops it (only for !=)."""
    precision = len(_release(clause.version))
    if clause.op in ("<", "<="):
        return [Clause("<", upper_bound_for(version, precision))]
    if clause.op in (">", ">="):
        return [Clause(">=", lower_bound_for(version, precision))]
    if clause.op in ("==", "==="):
        return [Clause("==", str(version.public))]
    if clause.op == "!=":
        return []
    raise ConstraintError(f"cannot widen {clause.text()!r}")


def widen_clauses(clauses: list[Clause], version: Version) -> list[Clause]:
    """The clauses with every one that excludes `version` moved just enough to admit it."""
    out: list[Clause] = []
    for clause in clauses:
        if clause.admits(version):
            out.append(clause)
            continue
        for part in _expand(clause):
            out.extend([part] if part.admits(version) else _fix(part, version))
    return out


_PEP440_CLAUSE = re.compile(r"^\s*(===|==|!=|~=|<=|>=|<|>)(\s*)(\S+?)\s*$")


def parse_pep440_clause(text: str) -> Clause:
    match = _PEP440_CLAUSE.match(text)
    if not match:
        raise ConstraintError(f"not a PEP 440 clause: {text!r}")
    try:
        Specifier(match.group(1) + match.group(3))
    except InvalidSpecifier as exc:
        raise ConstraintError(str(exc)) from None
    return Clause(match.group(1), match.group(3))


def widen_pep440(spec: str, version: str | Version) -> str:
    """`spec` (PEP 440, comma-separated) edited minimally to admit `version`.

    Clauses that already admit it keep their exact text and spacing; so does the whole string
    when nothing needs to change.
    """
    target = Version(str(version))
    raw_parts = spec.split(",") if spec.strip() else []
    pieces: list[str] = []
    for raw in raw_parts:
        clause = parse_pep440_clause(raw)
        if clause.admits(target):
            pieces.append(raw)
            continue
        lead = raw[: len(raw) - len(raw.lstrip())]  # keep ", < 2" spacing style
        gap = _PEP440_CLAUSE.match(raw).group(2)  # and "< 2" stays "< 2.9"
        pieces.extend(f"{lead}{c.op}{gap}{c.version}" for c in widen_clauses([clause], target))
    return ",".join(pieces)


def pep440_admits(spec: str, version: str | Version) -> bool:
    return SpecifierSet(spec).contains(Version(str(version)), prereleases=True)


# --- Poetry -----------------------------------------------------------------------------

_OP_SPACE = re.compile(r"(===|==|!=|~=|<=|>=|<|>|\^|~)\s+")
_POETRY_OPS = ("===", "==", "!=", "~=", "<=", ">=", "<", ">", "^", "~", "=")


def _poetry_tokens(alternative: str) -> list[str]:
    """`>= 1.2, < 2` and `>=1.2 <2` both mean AND: join operator and version, split on , or space."""
    joined = _OP_SPACE.sub(r"\1", alternative.strip())
    return [t for t in re.split(r"[,\s]+", joined) if t]


def _caret(version: str) -> list[Clause]:
    rel = _release(version)
    # ^ allows changes that do not modify the left-most non-zero component (of those written).
    index = next((i for i, part in enumerate(rel) if part != 0), len(rel) - 1)
    upper = rel[:index] + (rel[index] + 1,)
    return [Clause(">=", version), Clause("<", format_release(upper, max(len(upper), _DERIVED_PRECISION)))]


def _tilde(version: str) -> list[Clause]:
    rel = _release(version)
    upper = (rel[0] + 1,) if len(rel) == 1 else (rel[0], rel[1] + 1)
    return [Clause(">=", version), Clause("<", format_release(upper, _DERIVED_PRECISION))]


def poetry_token_clauses(token: str) -> list[Clause]:
    """One Poetry token (`^2.2.1`, `~1.2`, `1.2.*`, `*`, `1.2.3`, `>=1.2`) as PEP 440 clauses."""
    if token in ("*", ""):
        return []
    try:
        if token.startswith("^"):
            return _caret(token[1:])
        if token.startswith("~") and not token.startswith("~="):
            return _tilde(token[1:])
        op = next((o for o in _POETRY_OPS if token.startswith(o)), "")
        version = token[len(op):]
        if op == "=":  # Poetry accepts a single '=' for equality
            op = "=="
        if not op:
            op = "=="  # a bare version is an exact pin; 1.2.* is a wildcard pin
        return [parse_pep440_clause(op + version)]
    except (ValueError, IndexError) as exc:
        raise ConstraintError(f"cannot read the Poetry constraint {token!r}: {exc}") from None


def poetry_alternatives(constraint: str) -> list[list[Clause]]:
    """A Poetry constraint as alternatives (split on `||`), each a list of PEP 440 clauses."""
    return [
        [c for token in _poetry_tokens(alt) for c in poetry_token_clauses(token)]
        for alt in constraint.split("||")
    ]


def to_pep440(constraint: str) -> list[str]:
    """Each alternative of a Poetry constraint as a PEP 440 specifier string."""
    return [",".join(c.text() for c in alt) for alt in poetry_alternatives(constraint)]


def poetry_admits(constraint: str, version: str | Version) -> bool:
    target = Version(str(version))
    return any(all(c.admits(target) for c in alt) for alt in poetry_alternatives(constraint))


def widen_poetry(constraint: str, version: str | Version) -> str:
    """`constraint` rewritten in Poetry syntax so that it admits `version`.

    Unchanged when it already does. Otherwise only the last alternative (lerobot's newest
    range) is rewritten, token by token: tokens that admit the version keep their text;
    a caret/tilde/wildcard that excludes it becomes an explicit `>=lo,<hi` pair.
    """
    target = Version(str(version))
    if poetry_admits(constraint, target):
        return constraint
    alternatives = constraint.split("||")
    last = alternatives[-1]
    pieces: list[str] = []
    for token in _poetry_tokens(last):
        clauses = poetry_token_clauses(token)
        if all(c.admits(target) for c in clauses):
            pieces.append(token)
        else:
            pieces.extend(c.text() for c in widen_clauses(clauses, target))
    lead = last[: len(last) - len(last.lstrip())]
    tail = last[len(last.rstrip()):]
    alternatives[-1] = lead + ",".join(pieces) + tail
    return "||".join(alternatives)
