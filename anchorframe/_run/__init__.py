"""A run from the user's call to its result: check, plan, store, display, execute, assemble.

Owns: :mod:`.scrape` (``scrape``/``ascrape``/``plan``/``load_checkpoint``),
:mod:`.options` (what a user passes, checked into ``_core.options``), :mod:`.lifecycle`
(one lifecycle for every run, with two executors: the engine in this process, or
:mod:`.sharded` over processes or Dask), :mod:`.assemble` and :mod:`.result` (the
``ScrapeResult``), :mod:`.probe` (``af.plan(..., probe=N)``).

May import: every part below it: ``_scale``, ``_engine``, ``extract``, ``_render``,
``_manners``, ``_store``, ``_display``, ``backends``, ``client``, ``_core``, ``errors``.
"""
