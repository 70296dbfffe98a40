"""Which fields a section's pages have at once or not at all, so a browser need not wait them out. No I/O.

``css()`` waits inside the page until every selector matches or the page is quiet
(:mod:`anchorframe._render.quiet`: loaded, no request or timer in flight, no DOM change
for 300 ms). For a field that is simply not on a page (the last page's "next" link, an
optional badge) most of those 300 ms are a tab doing nothing: on CPython's documentation,
where ~5 % of pages have no "next" link, they cost a few per cent of a run's throughput.

Learnt per *section* (:func:`~anchorframe._render.policy.section_key`: host and first path
directory), field by field, from what each page showed at the extractor's *first look*
(right after the navigation's ``wait_until``) and at its end:

* a field is **immediate** in a section once it was already there at the first look on
  :attr:`Arrivals.learn` pages (default 5) and has never arrived later on a page of that
  section;
* on a page where only immediate fields are missing, the extractor stops waiting once the
  page has loaded, nothing is in flight (requests, response bodies being read, inserted
  scripts), no timer is due within the wait, the page is not leaving (a script navigating
  away, a meta refresh) and nothing has changed for
  :data:`~anchorframe._render.quiet.SOON_SETTLE_MS` (100 ms: what follows a request in the
  same breath, a framework's render a few frames later), instead of 300 ms;
* one page in :attr:`Arrivals.recheck` (default 8; a hash of the URL, so not the order rows
  arrive in) waits the whole settle time anyway; a field that arrives after the first look,
  there or on any page, is never immediate in that section again.

A field JavaScript writes after the first look (a page that fills itself after a fetch) is
late on the pages that show it, so it is waited for as before. What the rule can miss: a
section whose pages have a field in their HTML, except some that write it more than 100 ms
after their last request or change, with nothing pending meanwhile; those lose it until a
recheck or another page shows it late. ``css(..., learn=False)`` turns the rule off.
Learnt afresh in each run (per run's input, per process).

Example:
    >>> arrivals = Arrivals()
    >>> for n in range(5):
    ...     url = f"https://docs.example/library/{n}.html"
    ...     arrivals.record(url, early={"h1", "next"}, found={"h1", "next"})
    >>> sorted(arrivals.immediate("https://docs.example/library/os.html"))
    ['h1', 'next']
    >>> arrivals.record("https://docs.example/library/x.html", early={"h1"}, found={"h1", "next"})
    >>> sorted(arrivals.immediate("https://docs.example/library/os.html"))
    ['h1']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .policy import section_key, stable_draw

__all__ = ["Arrivals"]


@dataclass
class _Section:
    early: Counter[str] = field(default_factory=Counter)  # pages where it was there at the first look
    late: set[str] = field(default_factory=set)  # arrived after the first look on some page


@dataclass
class Arrivals:
    """What the pages of each section have shown at the first look; see the module docstring.

    Args:
        learn: pages a field must be present on at the first look before it is immediate.
        recheck: one page in this many that lacks an immediate field waits it out anyway
            (0: none does).
    """

    learn: int = 5
    recheck: int = 8
    _sections: dict[tuple[str, str], _Section] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.learn < 1 or self.recheck < 0:
            raise ValueError(
                f"Arrivals(learn={self.learn}, recheck={self.recheck}): learn >= 1, recheck >= 0."
            )

    def immediate(self, url: str) -> frozenset[str]:
        """The fields not to wait out on ``url`` when absent at the first look (none on a recheck)."""
        section = self._sections.get(section_key(url))
        if section is None or (self.recheck and stable_draw(url) < 1 / self.recheck):
            return frozenset()
        return frozenset(name for name, pages in section.early.items() if pages >= self.learn) - section.late

    def record(self, url: str, *, early: Iterable[str], found: Iterable[str]) -> None:
        """What one page showed: the fields there at the first look, and those there at the end."""
        section = self._sections.setdefault(section_key(url), _Section())
        early = set(early)
        section.early.update(early)
        section.late.update(set(found) - early)
