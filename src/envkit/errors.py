"""Errors a user can cause, carrying the fix; the CLI prints them as one paragraph."""

from __future__ import annotations


class EnvkitError(Exception):
    """A user-facing failure: bad input (exit 2) or a failed step (exit 1).

    `message` says what is wrong and where (file, key, command); `fix` says what to do.
    """

    def __init__(self, message: str, fix: str | None = None, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.exit_code = exit_code

    def paragraph(self) -> str:
        # One paragraph: parser messages (packaging, tomllib) carry their own line breaks.
        text = " ".join(self.message.split())
        if self.fix:
            if not text.endswith((".", ":", "?", "!")):
                text += "."
            text += " Fix: " + " ".join(self.fix.split())
        return text


class StepFailed(EnvkitError):
    """A setup/lock step failed (exit 1); the message names the step, its log and how to resume."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message, fix, exit_code=1)


class Conflict(EnvkitError):
    """No tuple satisfies profile + host + lerobot; the message explains, the fix is the way out (exit 1)."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message, fix, exit_code=1)
