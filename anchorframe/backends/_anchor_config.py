"""What an Anchor run sends with its sessions, decided without I/O.

Owns the run's identity on the cloud: every session, of a batch or alone, carries the
tags ``anchorframe`` and ``anchorframe-run-<id>`` (the published API lets us filter
sessions on tags, never on a batch's metadata), so :func:`reap` can find and end what a
crashed process left behind. Owns the check of a user's configuration against the
published session-create schema, and the idle timeout a session gets unless told.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InputError

__all__ = [
    "APP_TAG",
    "CONFIGURATION_KEYS",
    "DEFAULT_IDLE_TIMEOUT",
    "RUN_KEY",
    "RUN_TAG_PREFIX",
    "check_configuration",
    "run_tags",
]

RUN_KEY = "anchorframe_run"
RUN_TAG_PREFIX = "anchorframe-run-"
APP_TAG = "anchorframe"
#: Minutes a session waits with no connection before the cloud ends it.
DEFAULT_IDLE_TIMEOUT = 3


def run_tags(run_id: str) -> list[str]:
    """The tags every session of run ``run_id`` carries: how reap() and reconciliation find it.

    Example:
        >>> run_tags("a1b2")
        ['anchorframe', 'anchorframe-run-a1b2']
    """
    return [APP_TAG, RUN_TAG_PREFIX + run_id]


#: The configuration keys of the published session-create schema.
CONFIGURATION_KEYS: dict[str, frozenset[str]] = {
    "session": frozenset({"initial_url", "recording", "proxy", "timeout", "live_view", "tags"}),
    "browser": frozenset(
        {
            "profile",
            "adblock",
            "popup_blocker",
            "captcha_solver",
            "headless",
            "viewport",
            "fullscreen",
            "extensions",
            "disable_web_security",
            "extra_stealth",
        }
    ),
    "integrations": frozenset(),
}


def check_configuration(configuration: Mapping[str, Any]) -> None:
    """Refuse unknown keys in a batch configuration, naming the closest known one.

    Example:
        >>> check_configuration({"browser": {"viewprt": {}}})
        Traceback (most recent call last):
        ...
        anchorframe.errors.InputError: configuration['browser'] has no key 'viewprt' (did you mean ...
    """
    import difflib

    def refuse(where: str, key: Any, known: frozenset[str]) -> None:
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(
            f"{where} has no key {key!r}{hint}. Known keys: {', '.join(sorted(known))}. To send a setting "
            "newer than this release, pass validate_configuration=False."
        )

    for key, value in configuration.items():
        if key not in CONFIGURATION_KEYS:
            refuse("configuration", key, frozenset(CONFIGURATION_KEYS))
        known = CONFIGURATION_KEYS[key]
        if key == "integrations":
            if not isinstance(value, list):
                raise InputError("configuration['integrations'] must be a list of integrations.")
            continue
        if not isinstance(value, Mapping):
            raise InputError(f"configuration[{key!r}] must be a dict, not {type(value).__name__}.")
        for inner in value:
            if inner not in known:
                refuse(f"configuration[{key!r}]", inner, known)
