"""Options are declared once for scrape() and ascrape(), and checked before anything starts."""

from __future__ import annotations

import inspect

import pytest

import anchorframe as af
from anchorframe._core.options import OPTIONS
from anchorframe.backends.fake import FakeBackend
from anchorframe.errors import InputError

URLS = ["https://shop.test/a", "https://shop.test/b"]


async def heading(page, row):
    await page.goto(row.url)
    return {"h1": await page.inner_text("h1")}


def test_scrape_ascrape_and_plan_name_the_declared_options():
    """Each def names every declared option, in order, keyword-only, with the declared default."""
    declared = [(option.name, option.default) for option in OPTIONS]
    for function, extra in ((af.scrape, []), (af.ascrape, []), (af.plan, [("probe", 0)])):
        parameters = inspect.signature(function).parameters
        assert list(parameters)[:2] == ["data", "fn"], function
        named = [(name, p.default) for name, p in parameters.items() if name not in ("data", "fn")]
        assert named == declared + extra, function
        assert all(p.kind is p.KEYWORD_ONLY for name, p in parameters.items() if name not in ("data", "fn"))
        assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    assert inspect.signature(af.scrape) == inspect.signature(af.ascrape)  # types too
    assert inspect.iscoroutinefunction(af.ascrape)


def test_the_type_checker_sees_each_option():
    """The defs themselves carry the options: typing.get_type_hints reads every one."""
    import typing

    hints = typing.get_type_hints(af.scrape)
    assert set(hints) >= {option.name for option in OPTIONS} and hints["retries"] is int


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"progress": "fancy"}, "progress must be"),
        ({"progress": 3}, "progress must be"),
        ({"timeout": "10"}, "timeout must be"),
        ({"retries": True}, "retries must be"),
        ({"backoff": -0.1}, "backoff must be"),
        ({"connect_timeout": 0}, "connect_timeout must be"),
        ({"max_replacements": -1}, "max_replacements must be"),
        ({"reuse_pages": "yes"}, "reuse_pages must be"),
        ({"dedupe": "no"}, "dedupe must be"),
        ({"checkpoint_overwrite": 1}, "checkpoint_overwrite must be"),
        ({"checkpoint": 42}, "checkpoint must be a path"),
        ({"schemes": []}, "schemes is empty"),
        ({"block": 7}, "block must be"),
        ({"sessions": 0}, "sessions must be"),
        ({"max_session_minutes": -1}, "max_session_minutes"),
        ({"backend": "cloud"}, "backend must be"),
    ],
)
def test_each_misused_option_is_named_before_anything_starts(options, match):
    """A bad value raises InputError naming the option; no session is started."""
    backend = FakeBackend()
    options.setdefault("backend", backend)
    with pytest.raises(InputError, match=match):
        af.scrape(URLS, heading, **{"progress": False, **options})
    assert backend.sessions_started == 0


def test_a_misspelt_option_gets_a_suggestion():
    """An unknown keyword is a TypeError (and an InputError) that suggests the closest option."""
    with pytest.raises(TypeError, match="did you mean 'retries'"):
        af.scrape(URLS, heading, retires=3)
    with pytest.raises(InputError, match="did you mean 'timeout'"):
        af.scrape(URLS, heading, timeuot=3)
    with pytest.raises(
        InputError,
        match=r"plan\(\) got an unexpected keyword argument 'per_sites' \(did you mean 'per_site'\?\)",
    ):
        af.plan(URLS, per_sites=2)


def test_a_bad_option_never_touches_the_checkpoint(tmp_path):
    """progress='fancy' with a checkpoint: refused before the directory or its lock exist."""
    path = tmp_path / "run.ckpt"
    with pytest.raises(InputError, match="progress must be"):
        af.scrape(URLS, heading, backend=FakeBackend(), checkpoint=path, progress="fancy")
    assert not path.exists()
    result = af.scrape(URLS, heading, backend=FakeBackend(), checkpoint=path, progress=False)
    assert result.counts["ok"] == 2  # nothing was left locked


def test_timedelta_seconds_are_accepted():
    """Durations take a float or a timedelta."""
    from datetime import timedelta

    result = af.scrape(URLS, heading, backend=FakeBackend(), timeout=timedelta(seconds=5), progress=False)
    assert result.counts["ok"] == 2


def _render(**arguments):
    from anchorframe._run.options import check_options

    return check_options(_arguments(["http://127.0.0.1:9/a"], **arguments)).engine.render


def _arguments(data, **given):
    """scrape()'s arguments by name, the declared defaults filled in."""
    return {"data": data, "fn": None, **{o.name: o.default for o in OPTIONS}, **given}


def test_the_built_in_extractors_go_over_http_first_unless_the_browser_would_see_other_pages():
    async def setup(page):
        pass

    async def by_hand(page, row):
        return None

    assert _render() == "auto"  # the page summary
    assert _render(extract={"name": "h1"}) == "auto"
    assert _render(fn=by_hand) == "browser"  # Playwright code
    assert _render(extract={"name": "h1"}, setup=setup) == "browser"  # setup logs the browser in
    assert _render(extract={"name": "h1"}, backend=FakeBackend()) == "browser"  # an in-memory web
    assert _render(extract={"name": "h1"}, render="browser") == "browser"
    assert _render(extract={"name": "h1"}, setup=setup, render="auto") == "auto"  # asked for


def test_a_cloud_session_behind_a_proxy_or_with_a_profile_keeps_the_browser():
    proxy = {"type": "anchor_proxy", "active": True}
    cases = {
        "auto": {},
        "browser": {"session": {"proxy": proxy}},
    }
    for expected, configuration in cases.items():
        assert af.AnchorBackend("sk-test", configuration=configuration).render_default == expected
    off = {"session": {"proxy": {**proxy, "active": False}}}
    assert af.AnchorBackend("sk-test", configuration=off).render_default == "auto"
    profile = {"browser": {"profile": {"name": "logged-in"}}}
    backend = af.AnchorBackend("sk-test", configuration=profile)
    assert backend.render_default == "browser"
    assert _render(extract={"name": "h1"}, backend=backend) == "browser"
