"""A Boundary that passes every question to another one (the real machine) and remembers the answers.

Because detect() can only see the machine through its Boundary, what this captures is exactly
what a replay (`envkit.host.RecordedBoundary`) has to answer: nothing more is needed, and
nothing the detector reads can be missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from envkit.host import Boundary, CommandResult, SystemReading


class _RecordingEnv(Mapping[str, str]):
    """The environment, remembering which names were asked for (present or not)."""

    def __init__(self, inner: Mapping[str, str], asked: set[str]) -> None:
        self._inner = inner
        self._asked = asked

    def __getitem__(self, key: str) -> str:
        self._asked.add(key)
        return self._inner[key]

    def __iter__(self) -> Iterator[str]:
        # Iterating reads every name: record them all rather than replay a different environment.
        keys = list(self._inner)
        self._asked.update(keys)
        return iter(keys)

    def __len__(self) -> int:
        return len(self._inner)


@dataclass
class Capture:
    """What the detector asked and what the machine answered, in the order of the replay files."""

    env_asked: set[str] = field(default_factory=set)
    env: dict[str, str] = field(default_factory=dict)
    system: SystemReading | None = None
    readings: dict[str, dict[str, Any]] = field(default_factory=dict)  # library readings: name -> JSON object
    texts: dict[str, str | None] = field(default_factory=dict)  # path -> content (None: unreadable/absent)
    exists: dict[str, bool] = field(default_factory=dict)
    globs: dict[str, list[str]] = field(default_factory=dict)
    commands: dict[tuple[str, ...], CommandResult | None] = field(default_factory=dict)
    which: dict[str, str | None] = field(default_factory=dict)


class RecordingBoundary:
    def __init__(self, inner: Boundary) -> None:
        self.inner = inner
        self.capture = Capture()

    @property
    def env(self) -> Mapping[str, str]:
        return _RecordingEnv(self.inner.env, self.capture.env_asked)

    def system(self) -> SystemReading:
        reading = self.inner.system()
        self.capture.system = reading
        return reading

    def reading(self, name: str, read: Callable[[], dict[str, Any]], absent: dict[str, Any]) -> dict[str, Any]:
        found = self.inner.reading(name, read, absent)
        self.capture.readings[name] = found
        return found

    def read_text(self, path: str) -> str | None:
        text = self.inner.read_text(path)
        self.capture.texts[path] = text
        return text

    def exists(self, path: str) -> bool:
        found = self.inner.exists(path)
        self.capture.exists[path] = found
        return found

    def glob(self, pattern: str) -> list[str]:
        found = self.inner.glob(pattern)
        self.capture.globs[pattern] = list(found)
        return found

    def run(self, argv: Sequence[str], timeout: float) -> CommandResult | None:
        result = self.inner.run(argv, timeout)
        self.capture.commands[tuple(argv)] = result
        return result

    def which(self, name: str) -> str | None:
        found = self.inner.which(name)
        self.capture.which[name] = found
        return found

    def env_snapshot(self) -> dict[str, str]:
        """The asked-for variables that were set, with their values."""
        inner = self.inner.env
        return {k: inner[k] for k in sorted(self.capture.env_asked) if k in inner}
