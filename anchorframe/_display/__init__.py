"""Displays: subscribers of a run's events that show it, and the timeline drawn after it.

Owns: :mod:`.progress` (picks the display by looking: notebook panel, terminal bars, log
lines or nothing), :mod:`.panel` (the ipywidgets panel), :mod:`.bars` (tqdm),
:mod:`.timeline` with :mod:`.timeline_data` and :mod:`.timeline_layout` (``result.plot()``).

Only the run (``_run``) starts a display; nothing that executes rows imports one.

May import: ``_core``, ``errors``.
"""
