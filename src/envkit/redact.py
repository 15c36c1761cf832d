"""Kept so `from envkit.redact import redact` goes on working: the rules live in envkit.secrets."""

from envkit.secrets import (  # noqa: F401
    MASK,
    RedactingStream,
    install,
    is_secret_name,
    redact,
    redact_data,
    redact_url,
    register_argv,
    register_env,
    secret_values,
)
