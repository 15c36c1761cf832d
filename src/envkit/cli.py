"""The typer app: wires the command modules together, turns EnvkitError into one paragraph."""

from __future__ import annotations

import sys
import traceback

import typer

from envkit.errors import EnvkitError

app = typer.Typer(
    name="envkit",
    help="Provision and verify LeRobot training environments (RTX 5090 / Ascend Atlas A2 / CPU).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _root() -> None:
    """Keeps every command a named subcommand, however many are registered."""


# One module per command; each exposes register(app). Importing them must stay cheap:
# heavy imports (torch, NVML, rattler, conda_lock, rich tables) live inside functions.
from envkit.commands import (  # noqa: E402
    bundle,
    detect,
    doctor,
    fleet,
    lock,
    matrix,
    pins,
    profiles,
    resolve,
    run,
    setup,
)

for _module in (profiles, detect, resolve, pins, setup, run, doctor, lock, matrix, fleet, bundle):
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    from envkit import redact

    redact.install()  # the one output edge: nothing printed below carries a credential
    try:
        rc = app(args=args, prog_name="envkit", standalone_mode=False)
    except EnvkitError as exc:
        if debug:
            traceback.print_exc()
        print(f"envkit: error: {exc.paragraph()}", file=sys.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # raised by code paths that call sys.exit themselves
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except KeyboardInterrupt:
        print("envkit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # usage errors of typer's click, and the unexpected
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()  # a usage error: click prints it with the command's usage line
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            print("envkit: aborted", file=sys.stderr)
            return 1
        raise
    return rc if isinstance(rc, int) else 0


def run_main() -> None:
    sys.exit(main())
