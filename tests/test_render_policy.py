"""render="auto" learning per site: properties of RenderPolicy (no I/O, no browser)."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anchorframe._render.policy as module
from anchorframe._render.arrival import Arrivals
from anchorframe._render.http import HttpOutcome
from anchorframe._render.policy import RenderPolicy, pattern_key, section_key

hosts = st.sampled_from(["a.example", "b.example", "c.example:8080"])
segments = st.sampled_from(["products", "app", "docs", "p1", "p22", ""])
numbers = st.integers(0, 10_000)
events = st.lists(st.tuples(hosts, segments, numbers, st.booleans()), max_size=60)


def url(host: str, segment: str, number: int) -> str:
    return f"https://{host}/{segment}/{number}" if segment else f"https://{host}/"


def test_docstring_examples():
    outcome = doctest.testmod(module)
    assert outcome.attempted > 0 and outcome.failed == 0


@given(events, st.integers(0, 2**32), st.lists(st.tuples(hosts, segments, numbers), max_size=30))
@settings(deadline=None)  # a shared 2-core machine: time limits would flake
def test_choices_are_deterministic_under_a_seed(history, seed, queries):
    """Two policies with the same seed and the same history choose the same for every URL."""
    one, two = RenderPolicy(seed=seed), RenderPolicy(seed=seed)
    for host, segment, number, needed in history:
        for policy in (one, two):
            policy.record(url(host, segment, number), "browser" if needed else "http")
    assert [one.choose(url(*q)) for q in queries] == [two.choose(url(*q)) for q in queries]


@given(events, st.integers(0, 2**32))
@settings(deadline=None)  # a shared 2-core machine: time limits would flake
def test_a_probe_draw_does_not_depend_on_the_order_of_questions(history, seed):
    """Asking in any order gives the same answers: concurrency cannot change the run."""
    policy = RenderPolicy(seed=seed, probe_rate=0.3)
    for host, segment, number, needed in history:
        policy.record(url(host, segment, number), "browser" if needed else "http")
    urls = [url(h, s, n) for h, s, n, _ in history]
    forward = {u: policy.choose(u) for u in urls}
    backward = {u: policy.choose(u) for u in reversed(urls)}
    assert forward == backward


@given(events)
@settings(deadline=None)  # a shared 2-core machine: time limits would flake
def test_a_pattern_whose_last_attempts_succeeded_over_http_stays_on_http(history):
    """Once a pattern's latest attempt was done over HTTP, its rows are tried over HTTP again."""
    policy = RenderPolicy(probe_rate=0.0)
    for host, segment, number, needed in history:
        policy.record(url(host, segment, number), "browser" if needed else "http")
    for host, segment, number, _ in history:
        policy.record(url(host, segment, number), "http")
        assert policy.choose(url(host, segment, number + 1)) == "http"


@given(hosts, segments, st.integers(1, 8))
@settings(deadline=None)  # a shared 2-core machine: time limits would flake
def test_rows_go_to_the_browser_after_window_attempts_needed_it(host, segment, window):
    policy = RenderPolicy(window=window, probe_rate=0.0)
    for n in range(window):
        assert policy.choose(url(host, segment, n)) == "http"
        policy.record(url(host, segment, n), "browser")
    assert policy.choose(url(host, segment, 10_001)) == "browser"
    other_host = "z.example"
    assert policy.choose(url(other_host, segment, 1)) == "http"


@given(st.integers(0, 1000), st.floats(0.02, 0.5))
@settings(max_examples=20, deadline=None)
def test_browser_first_rows_are_probed_at_the_documented_rate(seed, rate):
    """About ``probe_rate`` of browser-first rows are still tried over HTTP (2,000 URLs)."""
    policy = RenderPolicy(seed=seed, probe_rate=rate)
    for n in range(policy.window):
        policy.record(f"https://js.example/app/{n}", "browser")
    probes = sum(policy.choose(f"https://js.example/app/{n}") == "http" for n in range(2000))
    assert 0.6 * rate * 2000 <= probes <= 1.4 * rate * 2000 + 10


def test_a_new_pattern_on_a_browser_host_follows_the_host_until_it_has_its_own_history():
    policy = RenderPolicy(probe_rate=0.0)
    for n in range(4):
        policy.record(f"https://spa.example/app/{n}", "browser")
    assert policy.choose("https://spa.example/account/1") == "browser"  # the host's habit
    for n in range(4):
        policy.record(f"https://spa.example/blog/{n}", "http" if n == 3 else "browser")
    assert policy.choose("https://spa.example/blog/9") == "http"  # its own history wins


def test_a_successful_probe_switches_the_pattern_back_to_http():
    policy = RenderPolicy(probe_rate=0.0)
    for n in range(4):
        policy.record(f"https://x.example/p/{n}", "browser")
    assert policy.choose("https://x.example/p/5") == "browser"
    policy.record("https://x.example/p/6", "http")
    assert policy.choose("https://x.example/p/7") == "http"


def test_outcomes_of_the_http_path_are_recorded_as_they_are_and_failures_ignored():
    policy = RenderPolicy(probe_rate=0.0)
    failed = HttpOutcome("https://y.example/a/1", "failed", reason="HTTP 404")
    for n in range(10):
        policy.record(f"https://y.example/a/{n}", failed)
    assert policy.browser_share() is None
    for n in range(4):
        policy.record(f"https://y.example/a/{n}", HttpOutcome("u", "browser", reason="shell"))
    assert policy.choose("https://y.example/a/99") == "browser"
    policy.record("https://y.example/a/5", HttpOutcome("u", "done", values={}))
    assert policy.browser_share("Y.example") == pytest.approx(4 / 5)


@given(st.text(max_size=80))
@settings(deadline=None)  # a shared 2-core machine: time limits would flake
def test_any_string_is_a_url_the_policy_can_handle(text):
    policy = RenderPolicy()
    policy.record(text, "browser")
    assert policy.choose(text) in ("http", "browser")


@given(st.integers(0, 10**9), st.integers(0, 10**9))
@settings(deadline=None)  # a shared 2-core machine: time limits would flake
def test_digits_in_the_first_segment_collapse_into_one_pattern(a, b):
    assert pattern_key(f"https://s.example/item-{a}") == pattern_key(f"https://s.example/item-{b}")
    assert pattern_key(f"https://s.example/p/{a}/x") == pattern_key(f"https://s.example/p/{b}")


def test_bad_settings_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="at least 1"):
        RenderPolicy(window=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        RenderPolicy(probe_rate=1.5)


def test_an_absent_field_is_judged_by_what_its_section_and_site_have_shown():
    """Optional (shown elsewhere in the section) -> missing; unknown -> wait, then check; shown (or
    found missing) elsewhere on the site by pages running the same scripts -> missing, but a page
    running a script they do not -> check; a browser finding it -> browser for the section only;
    found missing `confirm` times -> missing for the section."""
    sphinx = frozenset({"src:jquery.js", "src:doctools.js"})
    app = sphinx | {"inline:render()"}
    policy = RenderPolicy(confirm=2)
    url = "https://d.example/library/a.html"
    assert policy.absent_route(url, ("added",), scripts=sphinx) == "wait"
    assert policy.absent_route(url, ("added",), waited=True, scripts=sphinx) == "check"
    assert policy.seen("https://d.example/library/b.html", {"added": "New in 3.2", "h1": "b"}, (), sphinx)
    assert not policy.seen("https://d.example/library/c.html", {"added": "New in 3.3"}, (), sphinx)
    assert policy.absent_route(url, ("added",), scripts=sphinx) == "missing"
    # another section: the same scripts never wrote it where absent -> missing; a new script -> check
    assert policy.absent_route("https://d.example/c-api/x.html", ("added",), scripts=sphinx) == "missing"
    assert policy.absent_route("https://d.example/app/x", ("added",), scripts=app) == "wait"
    assert policy.absent_route("https://other.example/c-api/x.html", ("added",), scripts=sphinx) == "wait"
    # a field JavaScript writes in /app/*: the first check finds it, the section's rows go to the browser
    assert policy.checked("https://d.example/app/1", ("note",), {"note": "hi", "h1": "x"}, app)
    assert policy.absent_route("https://d.example/app/2", ("note",), scripts=app) == "browser"
    assert policy.absent_route("https://d.example/app/2", ("h1",), scripts=sphinx) == "missing"
    # found missing by a check in /faq/: the site's pages with those scripts trust it missing;
    # /faq/ itself after two checks, whatever its pages run
    assert not policy.checked("https://d.example/faq/1", ("note",), {"note": None}, sphinx)
    assert policy.absent_route("https://d.example/howto/1", ("note",), scripts=sphinx) == "missing"
    assert policy.absent_route("https://d.example/faq/2", ("note",), waited=True, scripts=app) == "check"
    assert not policy.checked("https://d.example/faq/3", ("note",), {"note": None}, sphinx)
    assert policy.absent_route("https://d.example/faq/2", ("note",), scripts=app) == "missing"
    # root files share one section; values absent from the HTML are not shown by it
    assert section_key("https://d.example/about.html") == section_key("https://d.example/bugs.html")
    assert not policy.seen("https://d.example/about.html", {"note": None}, ("note",), sphinx)


# ---- the browser side: which fields a section has at once or never (anchorframe._render.arrival)


def _taught(arrivals: Arrivals, section: str, pages: int, early=("h1", "next"), found=("h1", "next")) -> None:
    for n in range(pages):
        arrivals.record(f"https://docs.example/{section}/{n}.html", early=early, found=found)


def test_a_field_is_immediate_after_learn_pages_and_only_in_its_section():
    """Five pages with "next" at the first look make it immediate in /library/, not in /howto/."""
    arrivals = Arrivals(recheck=0)
    _taught(arrivals, "library", 4)
    assert arrivals.immediate("https://docs.example/library/os.html") == set()
    _taught(arrivals, "library", 1)
    assert arrivals.immediate("https://docs.example/library/os.html") == {"h1", "next"}
    assert arrivals.immediate("https://docs.example/howto/x.html") == set()


def test_a_field_seen_arriving_late_is_never_immediate_again_in_its_section():
    """One page where the note came after the first look: the note is waited for there from then on."""
    arrivals = Arrivals(recheck=0)
    _taught(arrivals, "app", 20, early=("h1", "note"), found=("h1", "note"))
    arrivals.record("https://docs.example/app/late.html", early={"h1"}, found={"h1", "note"})
    _taught(arrivals, "app", 20, early=("h1", "note"), found=("h1", "note"))
    assert arrivals.immediate("https://docs.example/app/x.html") == {"h1"}


def test_fields_javascript_writes_never_become_immediate():
    """A field absent at every first look and found at the end is late, however many pages show it."""
    arrivals = Arrivals(recheck=0)
    _taught(arrivals, "js", 50, early=("h1",), found=("h1", "note"))
    assert arrivals.immediate("https://docs.example/js/x.html") == {"h1"}


def test_about_one_page_in_recheck_gets_no_immediate_fields():
    """The recheck draw hashes the URL: ~1 in 8 pages, the same ones every time."""
    arrivals = Arrivals()
    _taught(arrivals, "library", 5)
    urls = [f"https://docs.example/library/p{n}.html" for n in range(2000)]
    rechecked = [url for url in urls if not arrivals.immediate(url)]
    assert 0.09 < len(rechecked) / len(urls) < 0.16
    assert rechecked == [url for url in urls if not arrivals.immediate(url)]


def test_arrivals_refuses_settings_that_mean_nothing():
    with pytest.raises(ValueError, match="learn >= 1"):
        Arrivals(learn=0)


def test_a_css_scraper_learns_per_run_and_pickles_without_it():
    """What a scraper learnt belongs to one run's input: another run starts afresh, and a pickle
    (a worker's copy) carries none of it."""
    import pickle

    import anchorframe as af
    from anchorframe._core.table import prepare_input

    scraper = af.extract.css({"h1": "h1", "next": "a.next@href"})
    urls = [f"https://docs.example/library/{n}.html" for n in range(6)]
    first, second = prepare_input(urls, None), prepare_input(urls, None)
    learnt = scraper._arrivals(first.row(0, urls[0]))
    _taught(learnt, "library", 5)
    assert scraper._arrivals(first.row(1, urls[1])) is learnt
    assert scraper._arrivals(second.row(0, urls[0])) is not learnt
    clone = pickle.loads(pickle.dumps(scraper))
    assert clone.http_selectors == scraper.http_selectors and len(clone._learnt) == 0
    assert af.extract.css({"h1": "h1"}, learn=False)._arrivals(first.row(0, urls[0])) is None
