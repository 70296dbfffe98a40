"""An Anchor Browser compatible REST server on loopback, backed by real Chromium.

``with Emulator() as emu:`` serves the batch and async-session API at
``emu.base_url`` (key ``emu.api_key``), hands out real Chromium sessions over CDP,
injects faults deterministically under a seed, and counts what is live so tests
can prove nothing leaked. ``anchorframe emulator`` runs it from a shell.
"""

from ._app import RequestRecord
from ._cli import add_emulator_parser, cli_main, run_emulator_command
from ._faults import Faults
from ._server import Emulator

__all__ = [
    "Emulator",
    "Faults",
    "RequestRecord",
    "add_emulator_parser",
    "cli_main",
    "run_emulator_command",
]
