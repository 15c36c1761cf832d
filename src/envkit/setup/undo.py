"""`envkit setup --undo`: give the prefix back. Remove what setup recorded as its own, restore what it
replaced (each step module's undo reverses its work outside the prefix), leave the rest (docs/safety.md)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from envkit import ownership
from envkit.errors import EnvkitError
from envkit.hooks import remove_hooks
from envkit.setup.prefix import locked
from envkit.setup.registry import UNDO
from envkit.state import SetupState, load_state, state_dir


def _check_undo_target(prefix: Path) -> None:
    if prefix.is_symlink():
        raise EnvkitError(f"--prefix {prefix} is a symbolic link (to {os.readlink(prefix)}); undo does not follow links, "
                          "so it cannot be sure which directory setup recorded",
                          fix=f"pass the directory itself: envkit setup --undo --prefix {prefix.resolve()}")
    if not prefix.is_dir():
        raise EnvkitError(f"{prefix} holds no envkit setup (it does not exist), so there is nothing to undo",
                          fix="pass the --prefix you gave to `envkit setup`")
    if not os.access(prefix, os.W_OK):
        why = "is on a read-only filesystem" if _read_only(prefix) else "is not writable by you"
        raise EnvkitError(f"Cannot undo in {prefix}: it {why}; nothing was removed",
                          fix=f"remount {prefix} read-write (or run as its owner), then rerun `envkit setup --undo`")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def undo(prefix: Path, *, yes: bool = False, confirm: Callable[[str], bool] | None = None) -> list[str]:
    """Give the prefix back: remove what setup recorded as its own, restore what it replaced, leave the rest.

    Unknown entries (neither there before setup nor made by it) are left in place; undo refuses
    when there are any unless `yes` (or `confirm` says so), because the user may have meant them
    to go with the environment and should decide.
    """
    prefix = Path(prefix).expanduser().absolute()
    _check_undo_target(prefix)
    state = load_state(prefix)
    if state is None:
        raise EnvkitError(f"{prefix} holds no envkit setup (no {state_dir(prefix) / 'state.json'})",
                          fix="pass the --prefix you gave to `envkit setup`; envkit removes only what it recorded")
    with locked(prefix, "undo"):
        state = load_state(prefix) or state
        if state.preexisting is None and not ownership.adopt_legacy(state):
            return _undo_legacy(prefix, state)
        ownership.claim_interrupted(state)
        unknown = sorted(ownership.survey(state, None, None).unknown + ownership.user_made(state))
        if unknown and not yes:
            # every one of them, wherever it is: the user decides with the whole list in front of them
            shown = ", ".join(unknown[:50]) + (f" and {len(unknown) - 50} more" if len(unknown) > 50 else "")
            question = (f"{prefix} holds {len(unknown)} entr{'y' if len(unknown) == 1 else 'ies'} setup did not create ({shown}); "
                        "undo removes only setup's own files and leaves these. Go on?")
            if confirm is None or not confirm(question):
                raise EnvkitError(f"{prefix} holds {len(unknown)} entr{'y' if len(unknown) == 1 else 'ies'} that setup did not create "
                                  f"({shown}); nothing was removed",
                                  fix="move them elsewhere if they should survive outside the prefix, or rerun with --yes: undo "
                                      "then removes only what setup recorded and leaves these where they are")
        done: list[str] = []
        done += _undo_sources(prefix, state)
        removed = ownership.remove_owned(state)
        if removed:
            done.append(f"removed {len(removed)} entr{'y' if len(removed) == 1 else 'ies'} setup created in {prefix} "
                        f"({', '.join(sorted(removed)[:6])}{', ...' if len(removed) > 6 else ''})")
        for rel in ownership.restore_backups(state):
            done.append(f"restored {prefix / rel} from the backup setup took before writing")
        for rel in unknown:
            done.append(f"left {prefix / rel}: setup did not create it")
        try:
            shutil.rmtree(state_dir(prefix))
        except OSError as exc:
            raise ownership._fs_error(prefix, state_dir(prefix), exc) from None
        done.append(f"removed {state_dir(prefix)} (setup's record, log and backups)")
    if state.created_prefix:
        if os.path.ismount(prefix):
            done.append(f"left {prefix}: it is a mount point")
        elif any(prefix.iterdir()):
            done.append(f"left {prefix}: setup created it, but it still holds what setup did not create")
        else:
            prefix.rmdir()
            done.append(f"removed {prefix} (setup created it)")
    else:
        done.append(f"left {prefix} itself: it existed before setup")
    return done


def _undo_sources(prefix: Path, state: SetupState) -> list[str]:
    """What steps changed in the user's trees (pins, patches), reversed by the steps' own undo."""
    return [line for step_undo in UNDO for line in step_undo(prefix, state)]


def _undo_legacy(prefix: Path, state: SetupState) -> list[str]:
    """A state written before setup kept an inventory: remove only the files envkit itself writes."""
    done = _undo_sources(prefix, state)
    try:
        for path in remove_hooks(prefix):
            done.append(f"removed {path}")
        if (prefix / "share" / "envkit").exists():
            shutil.rmtree(prefix / "share" / "envkit")
            done.append(f"removed {prefix / 'share' / 'envkit'}")
        shutil.rmtree(state_dir(prefix))
    except OSError as exc:
        raise ownership._fs_error(prefix, prefix, exc) from None
    done.append(f"removed {state_dir(prefix)}; this prefix was set up by an envkit that kept no inventory, so the "
                "packages stay: remove the directory yourself if it held nothing else")
    return done
