"""The in-process executor: every row of a run through sessions and tabs, on one event loop.

Owns: :mod:`.engine` (the run: the queue over sessions x tabs, and the HTTP stage beside
it, :mod:`.http_stage`), :mod:`.ledger` (each row's attempts, retries and moves: the
decisions, no I/O), :mod:`.supervisor` and :mod:`.session` (sessions provisioned,
connected, replaced, released), :mod:`.tabs` (one row on one page), :mod:`.manners` (the
site policies of ``_manners`` applied to rows), :mod:`.memory` and :mod:`.saturation`
(fewer tabs when memory or CPU runs short), :mod:`.driver` (Playwright's driver kept warm)
and :mod:`.portal` (the one sync -> async bridge: an event loop in its own thread).

It tells what happens through ``_core.events`` and imports no display.

May import: ``_render``, ``_manners``, ``_store``, ``backends``, ``_core``, ``errors``.
"""
