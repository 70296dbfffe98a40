"""Pages without a browser, and what a page says about itself.

Owns: the HTTP path (:mod:`.http`: fetch, decode (:mod:`.charset`), parse and extract
with the same text rule a browser uses, :mod:`.html`, :mod:`.text`), what a page's answer
means (:mod:`.challenge` and :mod:`.blocked`: bot challenges and block pages;
:mod:`.page_signals`: status, ``Retry-After``), :mod:`.quiet` (when a browser page has gone
quiet, so an absent selector is missing), and :mod:`.policy`, which learns per site and path
whether rows need a browser (``render="auto"``).

May import: ``_manners`` (a site's key, ``Retry-After``), ``_core``, ``errors``.
"""
