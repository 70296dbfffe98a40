"""Which callables get a page: the engine opens none for a callable that never reads it."""

from __future__ import annotations

import sys

from anchorframe._engine import reads_page
from anchorframe.extract import css, page_summary


async def by_row(page, row):
    return {"n": row.position}


async def title(page, row):
    return await page.title()


async def captures(page, row):
    async def later():
        return page

    return await later()


async def introspects(page, row):
    return sys._getframe().f_locals


async def star(*args):
    return None


class Scraper:
    async def method(self, page, row):
        return None


def test_a_callable_that_never_reads_its_page_gets_none():
    """Only code that provably never loads its first parameter runs without a page."""
    assert reads_page(by_row) is False


def test_anything_that_may_read_the_page_gets_one():
    """Direct use, closures, frame introspection, *args, methods and the extractors all get a page."""
    for fn in (title, captures, introspects, star, Scraper().method, page_summary, css({"h": "h1"})):
        assert reads_page(fn) is True, fn


def test_builtin_extractors_keep_their_page_between_rows():
    """The extractors only navigate and read, so the engine reuses their page by default."""
    assert page_summary.af_reuse_page is True and css({"h": "h1"}).af_reuse_page is True
