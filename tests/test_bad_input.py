"""Every kind of wrong input gets a clear error naming the fix, or a per-row 'invalid' status.

Nothing here starts a browser: input checks come before anything costs money.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import anchorframe as af
from anchorframe._core.table import check_url, prepare_input
from anchorframe.backends.anchor import AnchorBackend
from anchorframe.client import AnchorClient
from anchorframe.errors import AuthenticationError, BrowserNotFoundError, InputError

URL = "https://shop.test/a"


async def scraper(page, row):
    return None


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (URL, "not a single string"),
        (42, "not int"),
        (None, "not NoneType"),
        ({"url": [URL]}, "not dict"),
        (b"https://x", "not bytes"),
    ],
)
def test_wrong_data_types(data, match):
    """Strings, numbers, None, dicts and bytes are refused with how to wrap them."""
    with pytest.raises(InputError, match=match):
        af.plan(data, backend="local")


@pytest.mark.parametrize(
    ("frame", "url", "match"),
    [
        (pd.DataFrame({"link": [URL]}), None, r"no column 'url'\. Pass url='link'"),
        (pd.DataFrame({"address": [URL]}), None, r"Pass url='address'"),
        (pd.DataFrame({"url": [URL]}), "href", r"no column 'href'"),
        (pd.DataFrame([[URL, URL]], columns=["url", "url"]), None, "duplicated column names"),
    ],
)
def test_missing_or_duplicated_columns(frame, url, match):
    """A missing URL column names the columns and the fix; duplicated names are refused."""
    with pytest.raises(InputError, match=match):
        af.plan(frame, url=url, backend="local")


def test_multiindex_rows_and_columns_are_accepted():
    """A MultiIndex on rows is kept; MultiIndex columns work with a tuple url=."""
    rows = pd.DataFrame({"url": [URL, URL + "2"]}, index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2)]))
    assert af.plan(rows, backend="local").urls == 2
    columns = pd.DataFrame([[URL, 1]], columns=pd.MultiIndex.from_tuples([("page", "url"), ("page", "n")]))
    table = prepare_input(columns, url=("page", "url"))
    assert table.work[0].url == URL


def test_non_unique_index_is_kept():
    """Duplicated index labels are allowed; rows are matched by position."""
    table = prepare_input(pd.DataFrame({"url": [URL, URL + "b"]}, index=[7, 7]))
    assert [w.positions for w in table.work] == [[0], [1]]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing URL"),
        (math.nan, "missing URL"),
        (pd.NA, "missing URL"),
        (np.float64("nan"), "missing URL"),
        ("", "blank URL"),
        (" \t ", "blank URL"),
        ("shop.test/a", "relative URL"),
        ("//shop.test/a", "relative URL"),
        ("../a.html", "relative URL"),
        ("file:///etc/passwd", "'file' is not allowed"),
        ("chrome://settings", "'chrome' is not allowed"),
        ("javascript:alert(1)", "'javascript' is not allowed"),
        ("data:text/html,<h1>x</h1>", "'data' is not allowed"),
        ("ftp://shop.test/a", "'ftp' is not allowed"),
        ("https://", "no host"),
        ("https://exa mple.com", "malformed"),
        ("https://shop.test:70000/", "malformed"),
        (12.5, "not a string"),
        (["https://a.test"], "not a string"),
    ],
)
def test_bad_urls_are_invalid_rows(value, reason):
    """Each bad cell becomes an 'invalid' row with a reason; the rest of the frame is fine."""
    table = prepare_input(pd.DataFrame({"url": [value, URL]}))
    assert 0 in table.invalid and reason in table.invalid[0]
    assert [w.url for w in table.work] == [URL]


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.test/" + "a" * 10_000,
        "https://bücher.example/straße",
        "https://xn--bcher-kva.example/",
        "HTTPS://SHOP.TEST/A",
        "http://127.0.0.1:8080/a?b=c#d",
        "http://[::1]:8080/",
    ],
)
def test_unusual_but_valid_urls_pass(url):
    """Very long URLs, unicode and punycode hosts, upper case, ports and IPv6 are valid."""
    assert check_url(url) == (url, None)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"sessions": 0}, "sessions must be a positive whole number"),
        ({"sessions": -2}, "sessions must be a positive whole number"),
        ({"tabs": 0}, "tabs must be a positive whole number"),
        ({"tabs": 1.5}, "tabs must be a positive whole number"),
        ({"timeout": 0}, "timeout must be"),
        ({"timeout": -1}, "timeout must be"),
        ({"timeout": math.nan}, "timeout must be"),
        ({"timeout": "10"}, "timeout must be"),
        ({"retries": -1}, "retries must be"),
        ({"retries": 1.5}, "retries must be"),
        ({"backoff": -1}, "backoff must be"),
        ({"block": {"images"}}, "unknown resource types"),
        ({"backend": "cloud"}, "backend must be"),
    ],
)
def test_bad_options_are_refused_before_any_browser(options, match):
    """Zero or negative sizes and timeouts, unknown block types and backends: a clear error."""
    with pytest.raises(InputError, match=match):
        af.scrape([URL], scraper, progress=False, **options)


def test_timedelta_timeouts_are_accepted(site):
    """Durations may be given as timedelta."""
    result = af.scrape([site.url("/page/1")], scraper, timeout=timedelta(seconds=5), progress=False)
    assert result.counts["ok"] == 1


def test_plain_functions_and_non_callables():
    """A plain def, a lambda and a non-callable are refused with the async form."""
    with pytest.raises(TypeError, match="async def"):
        af.scrape([URL], lambda page, row: None, progress=False)
    with pytest.raises(TypeError, match="must be an async function"):
        af.scrape([URL], 42, progress=False)
    with pytest.raises(TypeError, match="setup must be an async function"):
        af.scrape([URL], scraper, setup=lambda page: None, progress=False)


@pytest.mark.parametrize("extract", [{}, {"": "h1"}, {"name": ""}, {"name": 3}])
def test_bad_extract_dicts(extract):
    """extract= needs names and selectors that are non-empty strings."""
    with pytest.raises(InputError, match="extract"):
        af.scrape([URL], extract=extract, progress=False)


def test_unknown_configuration_keys_name_the_closest_one():
    """A typo in the Anchor configuration is refused before any batch is created."""
    with pytest.raises(InputError, match=r"no key 'viewprt' \(did you mean 'viewport'\?\)"):
        AnchorBackend("k", base_url="http://127.0.0.1:9", configuration={"browser": {"viewprt": {}}})
    with pytest.raises(InputError, match=r"configuration has no key 'sesion'"):
        AnchorBackend("k", base_url="http://127.0.0.1:9", configuration={"sesion": {}})
    backend = AnchorBackend(
        "k",
        base_url="http://127.0.0.1:9",
        configuration={"browser": {"new": 1}},
        validate_configuration=False,
    )
    assert backend.configuration == {"browser": {"new": 1}}


def test_missing_key_says_how_to_set_one(monkeypatch):
    """No key anywhere: the error says which variables to set; nothing is sent."""
    monkeypatch.delenv("ANCHOR_API_KEY", raising=False)
    monkeypatch.delenv("ANCHORBROWSER_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="ANCHOR_API_KEY"):
        af.scrape([URL], scraper, backend="anchor", progress=False)
    with pytest.raises(AuthenticationError, match="ANCHOR_API_KEY"):
        AnchorClient()


def test_expired_key_is_an_authentication_error(emulator_for_bad_input):
    """A key the API refuses (expired, revoked) raises AuthenticationError before any row."""
    backend = AnchorBackend("expired-key", base_url=emulator_for_bad_input.base_url)
    with pytest.raises(AuthenticationError):
        af.scrape([URL], scraper, backend=backend, progress=False)
    assert emulator_for_bad_input.live_sessions == 0


def test_a_missing_chromium_is_an_error_not_failed_rows(tmp_path):
    """A wrong executable_path raises BrowserNotFoundError naming the fix."""
    with pytest.raises(BrowserNotFoundError, match="ANCHORFRAME_CHROMIUM"):
        af.scrape([URL], scraper, backend=af.LocalBackend(executable_path=tmp_path / "no"), progress=False)


@pytest.fixture
def emulator_for_bad_input():
    from anchorframe.emulator import Emulator

    with Emulator(seed=1) as emu:
        yield emu
