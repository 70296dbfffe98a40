"""Per-site gate: site keys, Retry-After, caps, delays, pauses, backoff, fair queues, and its cost. No I/O."""

from __future__ import annotations

import random
import time

import pytest

from anchorframe._manners.sites import SiteGate, parse_retry_after, site_key


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://www.example.com/a", "example.com"),
        ("https://shop.example.co.uk/p?x=1", "example.co.uk"),
        ("https://EXAMPLE.com./", "example.com"),
        ("https://a.b.c.example.com.au/", "example.com.au"),
        ("http://127.0.0.1:8000/a", "127.0.0.1:8000"),
        ("http://127.0.0.1/a", "127.0.0.1"),
        ("http://[::1]:9000/a", "[::1]:9000"),
        ("http://localhost:3000/", "localhost:3000"),
        ("http://intranet/wiki", "intranet"),
    ],
)
def test_site_key_is_the_registered_domain_or_the_host_and_port(url, site):
    assert site_key(url) == site


def test_site_keys_come_from_the_bundled_list_without_network(monkeypatch):
    """tldextract is told not to fetch; the list's wildcard (*.kawasaki.jp) and exception rules apply."""
    import socket

    import anchorframe._manners.sites as sites

    def no_network(*args, **kwargs):
        raise AssertionError("site_key() tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    sites._extractor.cache_clear()
    sites._site_of_host.cache_clear()
    assert site_key("https://foo.bar.kawasaki.jp/") == "foo.bar.kawasaki.jp"
    assert site_key("https://www.city.kawasaki.jp/") == "city.kawasaki.jp"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 90.0),  # 100 s after the epoch, now = 10
        ("Thu, 01 Jan 1970 00:00:05 GMT", 0.0),  # in the past: no wait
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_takes_seconds_or_an_http_date(value, expected):
    assert parse_retry_after(value, now=10.0) == expected


def test_at_most_per_site_rows_run_at_one_site():
    gate: SiteGate[int] = SiteGate(per_site=3)
    for n in range(10):
        gate.push(n, "a.com")
    taken = [gate.take(0.0) for _ in range(4)]
    assert [t[1] for t in taken[:3] if t] == [0, 1, 2] and taken[3] is None
    gate.finished("a.com", 1.0, "ok")
    assert gate.take(1.0) == ("a.com", 3)


def test_a_throttled_site_does_not_hold_up_other_sites():
    """Tabs with nothing to do for a paused site take the other sites' rows at once."""
    gate: SiteGate[str] = SiteGate(per_site=8)
    for n in range(5):
        gate.push(f"a{n}", "a.com")
        gate.push(f"b{n}", "b.com")
    assert gate.take(0.0) == ("a.com", "a0")
    gate.finished("a.com", 0.0, "throttled", retry_after=30.0)
    got = [gate.take(1.0) for _ in range(6)]
    assert [g[1] for g in got if g] == ["b0", "b1", "b2", "b3", "b4"]
    assert gate.next_ready(1.0) == 30.0
    assert gate.take(30.0) == ("a.com", "a1")


def test_sites_take_turns():
    gate: SiteGate[str] = SiteGate()
    for n in range(3):
        gate.push(f"a{n}", "a.com")
    gate.push("b0", "b.com")
    gate.push("c0", "c.com")
    order = [gate.take(0.0)[1] for _ in range(5)]  # type: ignore[index]
    assert order == ["a0", "b0", "c0", "a1", "a2"]


def test_min_delay_spaces_the_starts_at_a_site():
    gate: SiteGate[int] = SiteGate(per_site=8, min_delay=2.0)
    for n in range(3):
        gate.push(n, "a.com")
    assert gate.take(0.0) == ("a.com", 0)
    assert gate.take(1.9) is None and gate.next_ready(1.9) == 2.0
    assert gate.take(2.0) == ("a.com", 1)


def test_crawl_delay_can_only_lengthen_the_runs_delay():
    gate: SiteGate[int] = SiteGate(min_delay=1.0)
    gate.set_min_delay("a.com", 5.0)
    gate.set_min_delay("b.com", 0.1)
    for site in ("a.com", "b.com"):
        gate.push(1, site)
        gate.push(2, site)
    gate.take(0.0)
    gate.take(0.0)
    assert gate.next_ready(0.0) == 1.0  # b.com: the run's 1 s, not its 0.1 s
    assert gate.take(1.0) == ("b.com", 2)
    assert gate.next_ready(1.0) == 5.0


def test_a_throttle_without_retry_after_halves_the_cap_and_backs_off_exponentially():
    gate: SiteGate[int] = SiteGate(per_site=8, backoff_base=1.0, backoff_cap=60.0)
    pauses = []
    for _ in range(4):
        gate.started("a.com", 0.0)
        pauses.append(gate.finished("a.com", 0.0, "throttled"))
    assert [p.seconds for p in pauses if p] == [1.0, 2.0, 4.0, 8.0]
    assert gate.limit("a.com") == 1  # 8 -> 4 -> 2 -> 1 -> 1
    assert gate.throttles_in_a_row("a.com") == 4
    gate.started("a.com", 20.0)
    gate.finished("a.com", 20.0, "ok")
    assert gate.throttles_in_a_row("a.com") == 0


def test_successes_bring_the_cap_back_up_to_the_ceiling_the_site_set():
    """A 429 at 6 concurrent rows: cap 8 -> 4, ceiling 5; the ceiling rises one per 50 successes."""
    gate: SiteGate[int] = SiteGate(per_site=8)
    for _ in range(6):
        gate.started("a.com", 0.0)
    gate.finished("a.com", 0.0, "throttled", retry_after=0.0)
    for _ in range(5):
        gate.finished("a.com", 0.0, "failed")
    assert gate.limit("a.com") == 4
    caps = []
    for _ in range(150):
        gate.started("a.com", 1.0)
        gate.finished("a.com", 1.0, "ok")
        caps.append(gate.limit("a.com"))
    assert caps[3] == 5 and max(caps[:49]) == 5  # up to the ceiling, then no further
    assert caps[49] == 6 and caps[99] == 7 and caps[149] == 8  # probing, one step per PROBE_AFTER
    assert max(caps) == 8  # never above per_site


def test_retry_after_pauses_the_site_and_is_capped():
    gate: SiteGate[int] = SiteGate(max_pause=100.0)
    pause = gate.finished("a.com", 10.0, "throttled", retry_after=3600.0)
    assert pause is not None and pause.seconds == 100.0 and pause.until == 110.0
    assert not gate.can_start("a.com", 109.0) and gate.can_start("a.com", 110.0)
    assert gate.paused(50.0)["a.com"].reason == "Retry-After"


def test_a_shorter_pause_never_cuts_a_longer_one():
    gate: SiteGate[int] = SiteGate()
    assert gate.pause("a.com", 10.0, "first", now=0.0) is not None
    assert gate.pause("a.com", 2.0, "second", now=1.0) is None
    assert not gate.can_start("a.com", 5.0)


def test_a_pause_while_a_site_waits_on_a_delay_is_honoured():
    gate: SiteGate[int] = SiteGate(min_delay=1.0)
    for n in range(3):
        gate.push(n, "a.com")
    gate.take(0.0)
    gate.pause("a.com", 10.0, "maintenance", now=0.5)
    assert gate.take(1.0) is None and gate.take(9.9) is None
    assert gate.next_ready(9.9) == 10.5
    assert gate.take(10.5) == ("a.com", 1)


def test_stats_count_outcomes_per_site():
    gate: SiteGate[int] = SiteGate()
    for outcome in ("ok", "ok", "blocked", "failed", "throttled", "moved", "skipped"):
        gate.started("a.com", 0.0)
        gate.finished("a.com", 0.0, outcome)
    stats = gate.stats()["a.com"]
    assert (stats.ok, stats.blocked, stats.failed, stats.throttled, stats.skipped) == (2, 1, 1, 1, 1)
    assert stats.pauses == 1 and stats.max_active == 1
    with pytest.raises(ValueError, match="Unknown outcome"):
        gate.finished("a.com", 0.0, "weird")


def test_drain_returns_every_waiting_row():
    gate: SiteGate[int] = SiteGate(per_site=1)
    for n in range(6):
        gate.push(n, f"s{n % 3}")
    gate.take(0.0)
    assert sorted(gate.drain()) == [1, 2, 3, 4, 5] and gate.waiting == 0
    assert gate.take(0.0) is None


def simulate(gate: SiteGate[int], rows: list[tuple[int, str]], tabs: int, seed: int) -> dict[str, int]:
    """Discrete-time run: ``tabs`` workers; a.com throttles 1 row in 10; the max concurrency per site."""
    rng = random.Random(seed)
    for row, site in rows:
        gate.push(row, site)
    running: list[tuple[float, str]] = []
    now, done, seen = 0.0, 0, {}
    active: dict[str, int] = {}
    while done < len(rows):
        while len(running) < tabs and (got := gate.take(now)) is not None:
            site, _ = got
            active[site] = active.get(site, 0) + 1
            seen[site] = max(seen.get(site, 0), active[site])
            running.append((now + rng.uniform(0.1, 1.0), site))
        if not running:
            now = gate.next_ready(now) or now
            continue
        running.sort()
        end, site = running.pop(0)
        now = max(now, end)
        active[site] -= 1
        throttled = site == "a.com" and rng.random() < 0.1
        gate.finished(site, now, "throttled" if throttled else "ok", retry_after=1.0 if throttled else None)
        done += 1
    return seen


def test_no_site_ever_exceeds_its_cap_in_a_busy_run():
    rows = [(n, ["a.com", "b.com", "c.com", "d.com"][n % 4]) for n in range(2000)]
    seen = simulate(SiteGate(per_site=3), rows, tabs=32, seed=1)
    assert max(seen.values()) == 3


def test_100k_rows_cost_a_few_microseconds_each():
    """push + take + finished for 100,000 rows over 200 sites (the figure is printed with -s)."""
    gate: SiteGate[int] = SiteGate(per_site=8)
    sites = [f"site{n}.com" for n in range(200)]
    started = time.perf_counter()
    for n in range(100_000):
        gate.push(n, sites[n % 200])
    in_flight: list[str] = []
    taken = 0
    now = 0.0
    while taken < 100_000:
        got = gate.take(now) if len(in_flight) < 400 else None
        if got is None:
            gate.finished(in_flight.pop(0), now, "ok")
            now += 0.001
            continue
        in_flight.append(got[0])
        taken += 1
    per_row = (time.perf_counter() - started) / 100_000 * 1e6
    print(f"\nSiteGate: {per_row:.2f} µs per row (push + take + finished), 100,000 rows, 200 sites")
    assert per_row < 50  # ~3 µs on a quiet core; generous for a shared CI machine


def test_docstring_examples():
    import doctest

    import anchorframe._manners.sites

    outcome = doctest.testmod(anchorframe._manners.sites, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
