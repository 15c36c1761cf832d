"""What `envkit setup` recorded in a prefix that the doctor needs to judge it (no flags required).

Setup writes its choices into <prefix>/.envkit/state.json ("request"), as one typed record
(envkit.setup_choices.SetupChoices): the profile's name and the file it came from (a user's profile
that `extends` a built-in one is found again by its file), the lerobot source, the overrides it
installed with, the backbone-weights choice, the platform, and the digest of the tuple it resolved
(with the host facts it resolved for). The doctor takes these as defaults (an explicit flag still
wins) and checks the environment against the recorded digest (`digest_drift`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from envkit.setup_choices import SetupChoices, host_changes, tuple_digest
from envkit.state import load_state, state_path

if TYPE_CHECKING:
    from envkit.hostfacts import HostFacts
    from envkit.resolve import Resolved



def recorded_choices(prefix: Path | None) -> SetupChoices:
    """The choices recorded in an envkit prefix; empty for any other environment."""
    if prefix is None:
        return SetupChoices()
    state = load_state(Path(prefix))  # a corrupt state file is an EnvkitError naming it
    if state is None:
        return SetupChoices()
    return SetupChoices.from_request(state.request or {}, state.profile, state_path(Path(prefix)))


def digest_drift(recorded: SetupChoices, resolved: "Resolved | None", host: "HostFacts") -> tuple[str, str] | None:
    """(what differs, the fix) when the tuple the doctor checks is not the one setup installed; None when
    it is, or when setup recorded no digest (an older envkit, or not an envkit prefix)."""
    if recorded.tuple_digest is None or resolved is None:
        return None
    now = tuple_digest(resolved)
    if now == recorded.tuple_digest:
        return None
    causes = []
    if recorded.profile_digest is not None and resolved.profile_digest != recorded.profile_digest:
        where = f"its file {recorded.profile_file}" if recorded.profile_file else "envkit's built-in profile"
        causes.append(f"profile '{recorded.profile}' was edited since setup ({where})")
    changed = host_changes(recorded, host)
    if changed:
        causes.append("the host changed since setup: " + "; ".join(changed))
    why = "; ".join(causes) or "the profile's resolution changed since setup (another envkit, or the lerobot source moved)"
    what = (f"this environment was set up for a tuple with digest {recorded.tuple_digest[:12]}, and profile "
            f"'{recorded.profile}' now resolves to {now[:12]}: {why}")
    where = f" --prefix {recorded.state.parent.parent}" if recorded.state is not None else ""
    return what, f"re-run envkit setup --profile {recorded.profile_ref()}{where} (it installs what the profile asks for now)"
