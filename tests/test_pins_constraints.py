"""PEP 440 clause widening and Poetry constraint translation (envkit.poetry_constraints)."""

from __future__ import annotations

import pytest

from envkit.poetry_constraints import (
    ConstraintError,
    pep440_admits,
    poetry_admits,
    to_pep440,
    widen_pep440,
    widen_poetry,
)


@pytest.mark.parametrize(
    ("spec", "version", "expected"),
    [
        (">=2.2.1,<2.8.0", "2.8.0", ">=2.2.1,<2.9.0"),  # keep the original's precision
        (">=2.2.1,<2.8.0", "2.14.1", ">=2.2.1,<2.15.0"),
        (">=2.7,<2.12", "2.14.1", ">=2.7,<2.15"),
        ("<3", "3.1", "<4"),  # a major-only bound moves a major
        ("<=2.7.1", "2.8.0", "<2.9.0"),
        (">=0.11.0,<0.12.0", "0.7.0", ">=0.7.0,<0.12.0"),  # lower bound drops, minimally
        (">=2.8", "2.7.1", ">=2.7.1"),
        ("==2.7.1", "2.8.0", "==2.8.0"),
        ("~=0.21.0", "0.23.0", ">=0.21.0,<0.24"),
        ("==2.2.*", "2.8.0", ">=2.2,<2.9"),
        (">=2.2.1, <2.8.0", "2.8.0", ">=2.2.1, <2.9.0"),  # spacing kept
        (">=2.2.1,!=2.8.0,<3", "2.8.0", ">=2.2.1,<3"),
        (">=2.2.1,<2.11.0", "2.8.0", ">=2.2.1,<2.11.0"),  # admits: untouched
        ("", "2.8.0", ""),
        ("<2.8.0", "2.7.1+cpu", "<2.8.0"),  # local versions judged by their public part
        ("<2.7.1", "2.7.1+cpu", "<2.8.0"),
    ],
)
def test_widen_pep440(spec: str, version: str, expected: str) -> None:
    assert widen_pep440(spec, version) == expected
    assert pep440_admits(expected, version)


@pytest.mark.parametrize(
    ("constraint", "ranges"),
    [
        ("^2.2.1", [">=2.2.1,<3.0"]),
        ("^0.17.1", [">=0.17.1,<0.18"]),
        ("^0.0.3", [">=0.0.3,<0.0.4"]),
        ("^0", [">=0,<1.0"]),
        ("~1.2.3", [">=1.2.3,<1.3"]),
        ("~1", [">=1,<2.0"]),
        ("~=1.2", ["~=1.2"]),
        ("1.2.*", ["==1.2.*"]),
        ("1.2.3", ["==1.2.3"]),
        ("*", [""]),
        (">= 1.2, < 2", [">=1.2,<2"]),
        (">=1.2 <2", [">=1.2,<2"]),
        ("^1.2 || ^2.0", [">=1.2,<2.0", ">=2.0,<3.0"]),
    ],
)
def test_poetry_to_pep440(constraint: str, ranges: list[str]) -> None:
    assert to_pep440(constraint) == ranges


def test_caret_admits_like_poetry() -> None:
    assert poetry_admits("^2.2.1", "2.14.1")  # lerobot 0.1.0's torch: fine for every profile
    assert not poetry_admits("^2.2.1", "3.0.0")
    assert not poetry_admits("^0.17.1", "0.18.0")
    assert poetry_admits("^1.2 || ^3.0", "3.4")


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    [
        ("^0.17.1", "0.23.0", ">=0.17.1,<0.24"),
        ("^0.17.1", "0.29.1", ">=0.17.1,<0.30"),
        ("^2.2.1", "2.8.0", "^2.2.1"),  # admits: unchanged text
        ("~0.21.0", "0.22.1", ">=0.21.0,<0.23"),
        ("0.5.*", "0.7.0", ">=0.5,<0.8"),
        (">= 2.2, < 2.8", "2.8.0", ">=2.2,<2.9"),
        ("^1.2 || ^2.0", "3.1.0", "^1.2 || >=2.0,<3.2"),
        ("2.7.1", "2.8.0", "==2.8.0"),
    ],
)
def test_widen_poetry(constraint: str, version: str, expected: str) -> None:
    assert widen_poetry(constraint, version) == expected
    assert poetry_admits(expected, version)


def test_unreadable_constraint() -> None:
    with pytest.raises(ConstraintError):
        to_pep440("^banana")
