"""An Anchor Browser compatible REST server on loopback, backed by real Chromium.

``with Emulator() as emu:`` serves the batch, async-session and session-listing API
at ``emu.base_url`` (key ``emu.api_key``), hands out real Chromium sessions over CDP,
injects faults deterministically under a seed, and counts what is live so tests
can prove nothing leaked. ``anchorframe emulator`` runs it from a shell.

It says only what the vendor's published document says (a copy ships beside this
file as ``openapi.yaml``; tests/emulator/test_emulator_contract.py holds it to it):
documented statuses and errors, no field a schema lacks. ``Emulator(lenient=True)``
keeps the extras of earlier releases (batch ``metadata`` in answers, 404 for an
unknown session) for code written against them.
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
