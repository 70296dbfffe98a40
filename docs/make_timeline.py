"""Make docs/timeline.png: the timeline of a small run on local Chromium against the sample shop.

    flock /tmp/af-browser.lock .venv/bin/python docs/make_timeline.py             # a real run
    .venv/bin/python docs/make_timeline.py --synthetic                            # no browser

The real run scrapes the bundled sample shop (product pages, pages written by JavaScript,
a few 404s and one slow page that times out) on 2 sessions x 3 tabs. ``--synthetic`` draws a
made-up run instead (``anchorframe.demo.timeline``), for machines without Chromium.
Either way the PNG, and with ``--html`` an interactive page beside it, are written to docs/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anchorframe as af

DOCS = Path(__file__).resolve().parent


def real_run() -> af.ScrapeResult:
    """A run of ~150 rows: enough for every lane to be busy, short enough to read each bar."""
    from anchorframe.demo import DemoSite

    with DemoSite(products=110, rendered=30, missing=4, slow_seconds=5) as site:
        return af.scrape(
            site.frame(),
            extract={"name": "h1", "price": ".price"},
            backend="local",
            sessions=2,
            tabs=3,
            timeout=3,
            retries=1,
            progress=False,
        )


def synthetic() -> af.ScrapeResult:
    from anchorframe.demo.timeline import synthetic_run

    return synthetic_run(80, sessions=3, tabs=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic", action="store_true", help="draw a made-up run (no browser)")
    parser.add_argument("--html", action="store_true", help="also write docs/timeline.html")
    parser.add_argument("--out", type=Path, default=DOCS / "timeline.png", help="where to write the PNG")
    args = parser.parse_args(argv)
    result = synthetic() if args.synthetic else real_run()
    if not len(result.attempts):
        print(
            "The run recorded no attempts, so there is nothing to draw: this anchorframe's engine "
            "does not hand attempt records to ScrapeResult yet. Run with --synthetic.",
            file=sys.stderr,
        )
        return 1
    print(result.summary())
    picture = result.plot()
    print(f"wrote {picture.save(args.out)}")
    if args.html:
        print(f"wrote {picture.save(args.out.with_suffix('.html'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
