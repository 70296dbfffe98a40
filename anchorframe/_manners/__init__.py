"""Site manners as policies: per-site limits and pauses, robots.txt, how the client presents itself.

Owns: :mod:`.sites` (a site's key, its gate: cap, delay, pauses, adaptive backoff),
:mod:`.site_queue` (rows waiting per site, in lanes that share its limits), :mod:`.robots`
(robots.txt read once per site, ``Crawl-delay``), :mod:`.identity` (``user_agent=``,
``headers=``, ``locale=``, ``timezone=`` checked). The engine applies them
(``anchorframe._engine.manners``); nothing here knows a row's outcome or a browser.

May import: ``_core``, ``errors``.
"""
