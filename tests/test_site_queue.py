"""The async per-site queue: waiting tabs wake on new rows, finished rows and reopening sites. No browser."""

from __future__ import annotations

import asyncio
import doctest
import time

import pytest

import anchorframe._manners.site_queue
from anchorframe._manners.site_queue import SiteQueue
from anchorframe._manners.sites import SiteGate


def test_a_waiting_tab_wakes_when_a_row_is_queued():
    async def main():
        queue: SiteQueue[str] = SiteQueue(SiteGate())
        getter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0.01)
        assert not getter.done()
        queue.put("r1", "a.com")
        return await asyncio.wait_for(getter, 1.0)

    assert asyncio.run(main()) == ("a.com", "r1")


def test_a_tab_waits_for_a_paused_site_without_polling_and_others_take_other_sites():
    async def main():
        queue: SiteQueue[str] = SiteQueue(SiteGate(per_site=4))
        for n in range(3):
            queue.put(f"a{n}", "a.com")
        site, _ = await queue.get()
        queue.finished(site, "throttled", retry_after=0.3)
        started = time.monotonic()
        waiting = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0.05)
        queue.put("b0", "b.com")
        other = await asyncio.wait_for(queue.get(), 1.0)  # another tab gets b.com at once
        early = time.monotonic() - started
        got = await asyncio.wait_for(waiting, 2.0)
        return other, early, got, time.monotonic() - started

    other, early, got, waited = asyncio.run(main())
    assert other == ("b.com", "b0") and early < 0.2
    assert got[0] == "a.com" and 0.28 <= waited < 0.6


def test_a_finished_row_lets_the_next_row_of_a_full_site_start():
    async def main():
        queue: SiteQueue[int] = SiteQueue(SiteGate(per_site=1))
        queue.put(1, "a.com")
        queue.put(2, "a.com")
        await queue.get()
        second = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0.02)
        assert not second.done()
        queue.finished("a.com", "ok")
        return await asyncio.wait_for(second, 1.0)

    assert asyncio.run(main()) == ("a.com", 2)


def test_two_lanes_wait_apart_but_share_each_sites_cap_and_pauses():
    """Browser tabs and HTTP fetchers take only their lane's rows; a site's cap counts both."""

    async def main():
        queue: SiteQueue[str] = SiteQueue(SiteGate(per_site=2))
        queue.put("h1", "a.com", lane="http")
        queue.put("h2", "a.com", lane="http")
        queue.put("b1", "a.com", lane="browser")
        first = await queue.get("http")
        second = await queue.get("http")
        browser = asyncio.ensure_future(queue.get("browser"))
        await asyncio.sleep(0.02)
        full = not browser.done()  # a.com has 2 in flight over HTTP: the browser row waits
        queue.finished("a.com", "ok")  # an HTTP row ends: the browser lane's waiter gets the room
        got = await asyncio.wait_for(browser, 1.0)
        queue.finished("a.com", "throttled", retry_after=0.2)  # pauses the site in both lanes
        queue.finished("a.com", "ok")
        queue.put("h3", "a.com", lane="http")
        started = time.monotonic()
        late = await asyncio.wait_for(queue.get("http"), 2.0)
        return first, second, full, got, late, time.monotonic() - started

    first, second, full, got, late, waited = asyncio.run(main())
    assert (first[1], second[1], got[1], late[1]) == ("h1", "h2", "b1", "h3")
    assert full and 0.18 <= waited < 0.5


def test_many_idle_tabs_all_get_rows_when_a_site_reopens():
    """The wake chain: a site reopening with room for 4 wakes 4 tabs, not one."""

    async def main():
        queue: SiteQueue[int] = SiteQueue(SiteGate(per_site=4))
        queue.pause("a.com", 0.1, "Retry-After")
        tabs = [asyncio.ensure_future(queue.get()) for _ in range(6)]
        await asyncio.sleep(0.01)
        for n in range(10):
            queue.put(n, "a.com")
        await asyncio.sleep(0.3)
        done = [tab for tab in tabs if tab.done()]
        for tab in tabs:
            tab.cancel()
        await asyncio.gather(*tabs, return_exceptions=True)
        return len(done), queue.gate.stats()["a.com"].max_active

    assert asyncio.run(main()) == (4, 4)


def test_a_cancelled_waiter_passes_its_wake_on():
    async def main():
        queue: SiteQueue[int] = SiteQueue(SiteGate())
        first = asyncio.ensure_future(queue.get())
        second = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0.01)
        queue.put(1, "a.com")  # wakes `first`...
        first.cancel()  # ...which leaves before it runs
        with pytest.raises(asyncio.CancelledError):
            await first
        return await asyncio.wait_for(second, 1.0)

    assert asyncio.run(main()) == ("a.com", 1)


def test_rate_limited_rows_pass_through_at_the_sites_pace():
    """50 rows, 20 tabs, one site capped at 3 with a 429 on every 10th row: never more than 3 at once."""

    async def main():
        queue: SiteQueue[int] = SiteQueue(SiteGate(per_site=3))
        for n in range(50):
            queue.put(n, "a.com")
        active = peak = 0
        done: list[int] = []

        async def tab():
            nonlocal active, peak
            while len(done) < 50:
                site, row = await queue.get()
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(0.005)
                active -= 1
                if row % 10 == 9 and row not in done:
                    done.append(row)
                    queue.finished(site, "throttled", retry_after=0.02)
                else:
                    done.append(row)
                    queue.finished(site, "ok")
            queue.wake_all()

        tabs = [asyncio.ensure_future(tab()) for _ in range(20)]
        await asyncio.sleep(0)
        while len(done) < 50:
            await asyncio.sleep(0.01)
        for each in tabs:
            each.cancel()
        await asyncio.gather(*tabs, return_exceptions=True)
        return peak, sorted(done)

    peak, done = asyncio.run(main())
    assert peak <= 3 and done == list(range(50))


def test_docstring_examples():
    outcome = doctest.testmod(anchorframe._manners.site_queue, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0


def test_workers_on_a_rate_limited_site_finish_every_row_and_respect_its_pauses():
    """The engine's loop in small (httpx instead of tabs): 30 rows, 16 workers, a site that allows 3."""
    import httpx

    from anchorframe._manners.sites import parse_retry_after, site_key

    from .sites_misbehaving import RateLimitedSite

    async def main(site: RateLimitedSite) -> tuple[int, float, int]:
        queue: SiteQueue[str] = SiteQueue(SiteGate(per_site=8))
        for url in site.pages(30):
            queue.put(url, site_key(url))
        ok: set[str] = set()
        sent: list[float] = []

        async def worker(client: httpx.AsyncClient) -> None:
            while True:
                key, url = await queue.get()
                sent.append(time.monotonic())
                answer = await client.get(url)
                if answer.status_code == 429:
                    # Not the row's failure: back to the front of its site's queue, no retry spent.
                    wait = parse_retry_after(answer.headers.get("retry-after"), time.time())
                    queue.finished(key, "throttled", retry_after=wait)
                    queue.put(url, key, front=True)
                else:
                    ok.add(url)
                    queue.finished(key, "ok")

        started = time.monotonic()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as client:
            workers = [asyncio.ensure_future(worker(client)) for _ in range(16)]
            while len(ok) < 30:
                await asyncio.sleep(0.02)
            for each in workers:
                each.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        pauses = queue.gate.stats()[site_key(site.base_url)].pauses
        return len(ok), time.monotonic() - started, pauses

    with RateLimitedSite(limit=3, retry_after="1", hold=0.05) as site:
        done, elapsed, pauses = asyncio.run(main(site))
    assert done == 30 and site.max_concurrency <= 8
    assert pauses >= 1 and elapsed >= 1.0  # at least one announced pause was waited out
    # Nothing was sent while the site was paused (a request already on its way may land just after).
    first = min(at for at, _ in site.rejections)
    assert not any(first + 0.2 < at < first + 0.95 for at in site.arrivals)


def test_100k_rows_through_the_async_queue_cost_a_few_microseconds_each():
    """put + get + finished for 100,000 rows of 200 sites, 50 tabs (the figure is printed with -s)."""

    async def main() -> float:
        queue: SiteQueue[int] = SiteQueue(SiteGate(per_site=8))
        started = time.perf_counter()
        for n in range(100_000):
            queue.put(n, f"site{n % 200}.com")
        done = 0

        async def tab() -> None:
            nonlocal done
            while done < 100_000:
                site, _ = await queue.get()
                done += 1
                queue.finished(site, "ok")
                if done % 64 == 0:
                    await asyncio.sleep(0)  # let the other tabs in, as real rows would
            queue.wake_all()

        tabs = [asyncio.ensure_future(tab()) for _ in range(50)]
        while done < 100_000:
            await asyncio.sleep(0.01)
        for each in tabs:
            each.cancel()
        await asyncio.gather(*tabs, return_exceptions=True)
        return (time.perf_counter() - started) / 100_000 * 1e6

    per_row = asyncio.run(main())
    print(f"\nSiteQueue: {per_row:.2f} µs per row (put + get + finished), 100,000 rows, 200 sites, 50 tabs")
    assert per_row < 100
