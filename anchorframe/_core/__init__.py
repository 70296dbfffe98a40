"""The nouns every part shares: the input table, a row, the plan, the options, the events.

Owns: :mod:`.table` (``InputTable``, ``Work``, ``Row``, URL checks), :mod:`.frames` (the
result frames from the run's records), :mod:`.plan` (right-sizing), :mod:`.options` (the
typed, checked options; ``RenderMode``, ``Route``), :mod:`.events` (what the engine tells
its observers), :mod:`.retry` and :mod:`.backoff` (retry decisions), :mod:`.secrets`
(redaction). No I/O, no threads, no event loop.

May import: :mod:`anchorframe.errors` only. Every other part may import it.
"""
