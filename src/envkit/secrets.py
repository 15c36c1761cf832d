"""Every rule about secrets, in one place: which variable names hold one, what a credential in a URL
looks like, and how each output (screen, logs, state, manifests, probes, launch, fleet, recordings)
and each child process keeps them.

- `SECRET_NAME_PATTERN` is THE rule for variable names. The probes, which run stdlib-only inside the
  target interpreter, get this very pattern string as data (`probe_rule()`), never a copy of it.
- `URL_USERINFO` is THE rule for credentials in a URL.
- `redact` masks them at the output edge (keeping `user:***@host`, so indexes stay tell-apart);
  `scrub` is the stricter form for recordings meant to be published (whole userinfo, token shapes,
  NAME=value pairs): the same two rules, plus more.
- `child_credentials` takes the credentials out of a child's argv (readable by every local user in
  /proc/PID/cmdline) and hands them over through its environment (UV_INDEX_<NAME>_USERNAME/_PASSWORD)
  and a 0600 netrc in a private directory that is removed afterwards.
"""

from __future__ import annotations

import atexit
import base64
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import unquote, urlsplit

MASK = "***"

# --- the name rule ----------------------------------------------------------------------------------
# A word anywhere in the name (AWS_SECRET_ACCESS_KEY, SMTP_PASSWORD_FILE, WANDB_API_KEY), or one of the
# run-together endings (GHTOKEN, DBPASSWORD, GITHUB_AUTH). AUTH only as the ending: SSH_AUTH_SOCK is a
# socket path. Words are whole: KEYBOARD_LAYOUT and MONKEYS are not secrets.
_WORDS = "TOKEN|PASSWORD|PASSWD|PASS|SECRET|KEY|APIKEY|CREDENTIAL|CREDENTIALS"
_ENDINGS = "TOKEN|PASSWORD|PASSWD|SECRET|APIKEY|AUTH"
SECRET_NAME_PATTERN = rf"(?:^|[_.\-])(?:{_WORDS})(?:$|[_.\-])|(?:{_ENDINGS})$"
_SECRET_NAME = re.compile(SECRET_NAME_PATTERN, re.IGNORECASE)
MIN_SECRET = 6  # shorter values ("1", "true") would mask innocent text


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def probe_rule() -> str:
    """The name rule as the probes receive it (they compile it with re.IGNORECASE)."""
    return SECRET_NAME_PATTERN


# --- the URL rule -----------------------------------------------------------------------------------
# scheme://userinfo@ : the userinfo runs to the last '@' before the host (a password may hold an
# unescaped '@'); it never holds whitespace, '/', quotes or brackets, so it stops inside JSON and shell text.
URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^\s/\"'<>()\[\]{}]*)@(?=[^\s@/\"']+)")


def url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(url without userinfo, user, password), both decoded; the url unchanged when it has none."""
    m = URL_USERINFO.match(url)
    if not m or not m.group("info"):
        return url, None, None
    user, sep, password = m.group("info").partition(":")
    return m.group("scheme") + url[m.end():], unquote(user), unquote(password) if sep else None


def http_request(url: str, method: str = "GET") -> "urllib.request.Request":
    """A urllib request for `url` whose credentials travel as a Basic Authorization header: urllib
    cannot open `https://user:pw@host/` (http.client.InvalidURL, a traceback that quotes the password)."""
    import urllib.request  # 30 ms: every command imports this module, few open a URL

    bare, user, password = url_credentials(url)
    request = urllib.request.Request(bare, method=method)
    if user is not None:
        pair = f"{user}:{password or ''}".encode()
        request.add_unredirected_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    return request


def redact_url(url: str) -> str:
    return URL_USERINFO.sub(_mask_userinfo, url)


def _mask_userinfo(match: re.Match[str]) -> str:
    info = match.group("info")
    if not info:
        return match.group(0)
    user, sep, _password = info.partition(":")
    shown = f"{user}:{MASK}" if sep else MASK  # a bare token in the user part is a secret too
    return f"{match.group('scheme')}{shown}@"


# --- option values and values seen at run time ---------------------------------------------------------
# A command-line option whose name ends like a credential: `--wandb.api_key=V`, `--hub_token V`
# (lerobot-train arguments passed through `envkit launch`). `--policy.tokenizer_name` is not one.
# The value is masked whole: a quoted value to its closing quote, else up to the next blank.
# Any option, judged by the one name rule on its name: a value that starts like another option is
# not this one's (`--verbose --hub_token X` masks X).
_OPTION = re.compile(r"(?P<opt>--(?P<name>[\w.\-]+))(?P<sep>=|\s+)(?P<val>(?!--)(?:\"[^\"]*\"?|'[^']*'?|[^\s]+))")


def _is_secret_option(name: str) -> bool:
    return is_secret_name(name.lstrip("-"))


def _mask_option(m: re.Match[str]) -> str:
    return f"{m.group('opt')}{m.group('sep')}{MASK}" if _is_secret_option(m.group("name")) else m.group(0)
_REGISTERED: set[str] = set()  # values known to be secret in this process: masked wherever they turn up


def register_argv(argv: Sequence[str]) -> None:
    """Remember the values of credential-like options in `argv`, so that a training log that echoes its
    config (`'api_key': '...'`) is masked too, not only the command line."""
    for i, arg in enumerate(argv):
        name, sep, value = arg.partition("=")
        if not name.startswith("--") or not _is_secret_option(name):
            continue
        if not sep:  # `--hub_token VALUE`
            value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else ""
        register_value(value)


def register_value(value: Any) -> None:
    if isinstance(value, str):
        # a quoted option value (`--hub_token="a,b"`) is a secret with and without its quotes
        _REGISTERED.update(v for v in (value, value.strip("\"'")) if len(v) >= MIN_SECRET)


def register_env(env: Mapping[str, Any]) -> None:
    """A profile's [env] (or any such table): values under secret names are secrets from now on."""
    for key, value in env.items():
        if isinstance(key, str) and is_secret_name(key):
            register_value(value)


def register_env_tables(data: Any) -> None:
    """Every `env` table anywhere in a profile's data (top level and platform overlays)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "env" and isinstance(value, dict):
                register_env(value)
            else:
                register_env_tables(value)
    elif isinstance(data, list):
        for item in data:
            register_env_tables(item)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if is_secret_name(k) and len(v) >= MIN_SECRET} | _REGISTERED
    return sorted(values, key=len, reverse=True)  # longest first: one secret may contain another


# --- output redaction -------------------------------------------------------------------------------
def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every URL's password (or bare token) and every secret value masked."""
    if not text:
        return text
    if "@" in text:
        text = URL_USERINFO.sub(_mask_userinfo, text)
    if "--" in text:
        text = _OPTION.sub(_mask_option, text)
    for value in secret_values(environ):
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(data: Any) -> Any:
    """The same for a JSON-able structure (keys and string values); values under secret names masked."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact_data(k): (MASK if isinstance(k, str) and is_secret_name(k) and isinstance(v, str) and v
                                 else redact_data(v)) for k, v in data.items()}
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
    for name in stream_names:
        current = getattr(sys, name)
        if current is None or isinstance(current, RedactingStream):
            continue
        wrapped = RedactingStream(current)
        setattr(sys, name, wrapped)
        atexit.register(wrapped.flush)


# --- recordings: the same rules, and more ----------------------------------------------------------
_ASSIGNMENT = re.compile(
    r"(?P<name>\b[A-Za-z_][A-Za-z0-9_]*\b)(?P<sep>\s*[=:]\s*[\"']?)(?P<value>[^\s\"',;&]+)")
# `name=value` under any name the one rule calls secret (query strings, config dumps: `?token=`, `api_key=`).
_PARAM = re.compile(r"(?P<lname>\b[A-Za-z_][\w.\-]*)(?P<lsep>\s*=\s*[\"']?)(?P<lvalue>[^\s\"',;&]+)")
# Token shapes that are secrets wherever they appear (HF, GitHub, GitLab, OpenAI-style, Slack, AWS, PyPI, npm).
_TOKEN = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|sk-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|pypi-[A-Za-z0-9_-]{40,}|npm_[A-Za-z0-9]{30,})"
)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")  # variable-like keys only: not "lerobot-train-tokenizer"


def scrub(text: str) -> tuple[str, list[str]]:
    """For recordings: `text` without secrets, and one kind per thing removed ("credentials in a URL", ...).
    Stricter than `redact`: the whole userinfo goes, token shapes go, NAME=value under a secret NAME goes."""
    kinds: list[str] = []

    def url(m: re.Match[str]) -> str:
        if not m.group("info") or m.group("info") == MASK:
            return m.group(0)
        kinds.append("credentials in a URL")
        return f"{m.group('scheme')}{MASK}@"

    def assignment(m: re.Match[str]) -> str:
        name, sep, value = m.group("name"), m.group("sep"), m.group("value")
        if not _ENV_NAME.fullmatch(name) or not is_secret_name(name) or value == MASK or value.endswith(f"{MASK}@"):
            return m.group(0)
        kinds.append("a secret-named value (token/key/password)")
        return f"{name}{sep}{MASK}"

    def param(m: re.Match[str]) -> str:
        if not is_secret_name(m.group("lname")) or m.group("lvalue") == MASK or m.group("lvalue").endswith(f"{MASK}@"):
            return m.group(0)
        kinds.append("a secret-named value (token/key/password)")
        return f"{m.group('lname')}{m.group('lsep')}{MASK}"

    def token(m: re.Match[str]) -> str:
        kinds.append("a token")
        return MASK

    text = URL_USERINFO.sub(url, text)
    text = _TOKEN.sub(token, text)
    text = _ASSIGNMENT.sub(assignment, text)
    text = _PARAM.sub(param, text)
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
            kinds.append("a secret-named value (token/key/password)")
    return text, kinds


def is_secret_key(key: Any) -> bool:
    """A JSON key that names a secret variable (HF_TOKEN), for recordings that drop its value."""
    return isinstance(key, str) and bool(_ENV_NAME.fullmatch(key)) and is_secret_name(key)


# --- children: credentials through the environment, never argv -----------------------------------------
def _index_env_name(name: str) -> str:
    return "UV_INDEX_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


@contextmanager
def child_credentials(argv: Sequence[str], env: Mapping[str, str],
                      named: Sequence[tuple[str, str]] = ()) -> Iterator[tuple[list[str], dict[str, str]]]:
    """(argv without any URL userinfo, env that carries them instead), for one child process.

    Named uv indexes (`--index NAME=URL`) get UV_INDEX_<NAME>_USERNAME/_PASSWORD; every credentialed host
    also gets a line in a 0600 netrc in a private (0700) directory named by NETRC (uv, pip and requests
    read it), removed when the block ends. The environment of a process is readable only by its owner
    and root; its argv by everyone. `named`: (name, url) of indexes the child reads from a file envkit
    wrote without their userinfo (lock's pyproject.toml [[tool.uv.index]]).
    """
    out_argv: list[str] = []
    out_env = dict(env)
    hosts: dict[str, tuple[str, str]] = {}
    for i, arg in enumerate(argv):
        if "://" not in arg or "@" not in arg:
            out_argv.append(arg)
            continue
        name = None
        head, eq, url = arg.partition("=")
        if eq and "://" not in head and i > 0 and argv[i - 1] in ("--index", "--extra-index"):
            name = head
        else:
            head, url = "", arg
        bare, user, password = url_credentials(url)
        if user is None:
            out_argv.append(arg)
            continue
        out_argv.append(f"{head}={bare}" if name else bare)
        password = password or ""
        if name:
            out_env[_index_env_name(name) + "_USERNAME"] = user
            out_env[_index_env_name(name) + "_PASSWORD"] = password
        host = urlsplit(bare).hostname or ""
        if host:
            hosts.setdefault(host, (user, password))
    for name, url in named:
        bare, user, password = url_credentials(url)
        if user is not None:
            out_env[_index_env_name(name) + "_USERNAME"] = user
            out_env[_index_env_name(name) + "_PASSWORD"] = password or ""
            hosts.setdefault(urlsplit(bare).hostname or "", (user, password or ""))
    hosts.pop("", None)
    if not hosts:
        yield out_argv, out_env
        return
    private = tempfile.mkdtemp(prefix="envkit-netrc-")  # mkdtemp: 0700, only this user
    try:
        path = os.path.join(private, "netrc")
        lines = [f"machine {host} login {_netrc_word(u)} password {_netrc_word(p)}" for host, (u, p) in hosts.items()]
        previous = env.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
        try:
            with open(previous, encoding="utf-8") as f:  # the user's own entries keep working
                lines.append(f.read())
        except OSError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        out_env["NETRC"] = path
        yield out_argv, out_env
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _netrc_word(word: str) -> str:
    # netrc words are blank-separated; a quoted word keeps blanks and quotes (uv and Python both read it).
    if word and not re.search(r"[\s\"\\]", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
