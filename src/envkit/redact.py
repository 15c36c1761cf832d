"""One redaction at the output edge: no credential leaves envkit in text, JSON, logs, state or reports.

Index URLs reach envkit from profiles ([[indexes]]), PIP_INDEX_URL / PIP_EXTRA_INDEX_URL, pip's
config files and --index-url, and may carry `user:password@`. The install commands need the real
URL, so nothing is redacted where data is built; instead every place where text leaves the
process (stdout/stderr through `RedactingStream`, the setup log, state.json) passes it through
`redact`. Tokens kept in the environment (HF_TOKEN, *_TOKEN, *_PASSWORD, *_SECRET, AWS_SECRET_ACCESS_KEY) are masked by
value wherever they turn up.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from typing import IO, Any

MASK = "***"
# scheme://userinfo@ : the userinfo runs to the last '@' before the host (a password may hold an
# unescaped '@'); it never holds whitespace, '/', quotes or brackets, so it stops inside JSON and shell text.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^\s/\"'<>()\[\]{}]*)@(?=[^\s@/\"']+)")
# Names run together without a separator (GHTOKEN, DBPASSWORD); the words below cover the rest.
_SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET)$", re.IGNORECASE)
_MIN_SECRET = 6  # shorter values ("1", "true") would mask innocent text
# A command-line option whose name ends like a credential: `--wandb.api_key=V`, `--hub_token V`
# (lerobot-train arguments passed through `envkit launch`). `--policy.tokenizer_name` is not one.
_SECRET_OPTION_NAME = r"--[\w.\-]*?(?:api[_-]?key|token|password|passwd|secret)"
_SECRET_OPTION = re.compile(rf"(?P<opt>{_SECRET_OPTION_NAME})(?P<sep>=|\s+)(?P<val>[^\s\"',]+)", re.IGNORECASE)
_REGISTERED: set[str] = set()  # values seen as such options in this process's argv: masked wherever they turn up


def register_argv(argv: list[str]) -> None:
    """Remember the values of credential-like options in `argv`, so that a training log that echoes its
    config (`'api_key': '...'`) is masked too, not only the command line."""
    for i, arg in enumerate(argv):
        name, sep, value = arg.partition("=")
        if not re.fullmatch(_SECRET_OPTION_NAME, name, re.IGNORECASE):
            continue
        if not sep:  # `--hub_token VALUE`
            value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else ""
        if len(value) >= _MIN_SECRET:
            _REGISTERED.add(value)


# A variable whose name has one of these as a word holds a credential wherever the word sits
# (AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_KEY, SMTP_PASSWORD_FILE), not only at the end.
_SECRET_WORDS = frozenset({"TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "APIKEY", "CREDENTIAL", "CREDENTIALS"})


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) or not _SECRET_WORDS.isdisjoint(re.split(r"[_\-.]+", name.upper()))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= _MIN_SECRET} | _REGISTERED
    return sorted(values, key=len, reverse=True)  # longest first: one secret may contain another


def _mask_userinfo(match: re.Match[str]) -> str:
    info = match.group("info")
    if not info:
        return match.group(0)
    user, sep, _password = info.partition(":")
    shown = f"{user}:{MASK}" if sep else MASK  # a bare token in the user part is a secret too
    return f"{match.group('scheme')}{shown}@"


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every URL's password (or bare token) and every secret environment value masked."""
    if not text:
        return text
    if "@" in text:
        text = _USERINFO.sub(_mask_userinfo, text)
    if "--" in text:
        text = _SECRET_OPTION.sub(lambda m: f"{m.group('opt')}{m.group('sep')}{MASK}", text)
    for value in secret_values(environ):
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(data: Any) -> Any:
    """The same for a JSON-able structure (keys and string values)."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): redact_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v) for v in data]
    return data


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each line before it reaches the real one (stdout/stderr).

    Text is passed on line by line, so a URL split across two write() calls is still seen whole;
    flush() passes on a trailing partial line (progress output without a newline).
    """

    def __init__(self, inner: IO[str]) -> None:
        self._inner = inner
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            head, _, self._pending = self._pending.rpartition("\n")
            self._inner.write(redact(head + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._inner.write(redact(self._pending))
            self._pending = ""
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


def install(stream_names: tuple[str, ...] = ("stdout", "stderr")) -> None:
    """Wrap sys.stdout/sys.stderr (once) so everything the CLI prints is redacted."""
    import atexit
    import sys

    for name in stream_names:
        current = getattr(sys, name)
        if current is None or isinstance(current, RedactingStream):
            continue
        wrapped = RedactingStream(current)
        setattr(sys, name, wrapped)
        atexit.register(wrapped.flush)
