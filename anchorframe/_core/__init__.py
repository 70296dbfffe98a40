"""The nouns every part shares: the input table, a row, the plan, the options, the events.

Owns: :mod:`.table` (``InputTable``, ``Work``, ``Row``, URL checks), :mod:`.frames` (the
result frames from the run's records; :mod:`.shaped`: a frame built once is not shaped
again), :mod:`.plan` (right-sizing), :mod:`.options` (the typed, checked options;
``RenderMode``, ``Route``), :mod:`.events` (what the engine tells its observers),
:mod:`.retry` and :mod:`.backoff` (retry decisions), :mod:`.secrets` (redaction),
:mod:`.tls` (the process's one TLS context: its first use reads the CA bundle, the only I/O here),
:mod:`.native` (a polars or pyarrow input read as pandas, and results given back in its
kind, through narwhals when installed). No other I/O, no threads, no event loop.

May import: :mod:`anchorframe.errors` only. Every other part may import it.
"""
