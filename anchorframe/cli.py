"""The command line: ``anchorframe demo | scrape | plan | emulator | reap``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._store.tables import read_table, write_run

__all__ = ["main"]

EPILOG = """examples:
  anchorframe demo                                  scrape the bundled sample shop with local Chromium
  anchorframe demo --out demo.parquet --rows 50
  anchorframe plan urls.csv                         show the plan without starting a browser
  anchorframe plan urls.csv --extract name=h1 --probe 20
                                                    ... and fetch 20 of the URLs over HTTP to estimate
                                                    how many rows need a browser under --render auto,
                                                    then run them in local Chromium to measure the CPU
                                                    a page costs here
  anchorframe scrape urls.csv --extract name=h1 --extract price=.price --out prices.parquet
  anchorframe scrape urls.csv --scraper mymodule:product --out products.parquet

  # a nightly job: resumable, and failing when more than 2% of the rows failed
  anchorframe scrape urls.parquet --scraper jobs.shop:product --out products.parquet \\
      --checkpoint products.ckpt --max-failed 2% --retries 3
  # after a crash, the same command keeps the rows already done and scrapes the rest

exit status: 0 done (failures within --max-failed), 1 more rows failed than --max-failed allows,
2 bad input or arguments, 130 interrupted (rerun with the same --checkpoint to resume).
Progress bars go to stderr when it is a terminal; -v logs what happens.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anchorframe",
        description="Scrape a table of URLs with real browsers and get a table back.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="scrape the bundled sample site with local Chromium",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  anchorframe demo --out demo.parquet",
    )
    demo.add_argument(
        "--out",
        default="anchorframe-demo.parquet",
        help="where to save the results (.parquet, .csv, .jsonl or .json; default: %(default)s)",
    )
    demo.add_argument(
        "--rows",
        type=int,
        default=None,
        help="scrape N of its good pages, static and JavaScript-rendered mixed as in the whole shop",
    )
    _add_run_options(demo)
    demo.set_defaults(handler=_demo, backend="local")  # the demo is offline: local Chromium

    plan = commands.add_parser(
        "plan", help="check an input file and show the plan (no browser, unless --probe)"
    )
    plan.add_argument("input", help="CSV, Parquet or JSONL file with a URL column")
    plan.add_argument(
        "--extract",
        action="append",
        default=None,
        metavar="NAME=SELECTOR",
        help="the columns a scrape would read (repeatable); --probe tries them over HTTP, then in a browser",
    )
    plan.add_argument(
        "--probe",
        type=int,
        default=0,
        metavar="N",
        help="fetch N evenly spread URLs over plain HTTP and estimate which share of rows needs a "
        "browser under --render auto; where rows would use one, run the N rows in local Chromium "
        "(N >= 10) and size the plan on the CPU a page cost this machine",
    )
    _add_run_options(plan)
    plan.set_defaults(handler=_plan)

    scrape = commands.add_parser(
        "scrape",
        help="scrape the URLs of an input file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    scrape.add_argument("input", help="CSV, Parquet or JSONL file with a URL column")
    what = scrape.add_mutually_exclusive_group()
    what.add_argument(
        "--scraper",
        default=None,
        metavar="MODULE:FUNCTION",
        help="an async function (page, row) -> dict, imported from a module",
    )
    what.add_argument(
        "--extract",
        action="append",
        default=None,
        metavar="NAME=SELECTOR",
        help="a column filled from a CSS selector (repeatable)",
    )
    scrape.add_argument(
        "--out",
        required=True,
        help="output file (.parquet, .csv, .jsonl or .json); the run's errors, sessions and "
        "attempts go beside it (NAME.errors.parquet...)",
    )
    scrape.add_argument(
        "--max-failed",
        type=_threshold,
        default=None,
        metavar="LIMIT",
        help="exit with status 1 when more rows failed or were skipped than this: "
        "a share (0.05 or 5%%) or a number of rows (10)",
    )
    scrape.add_argument(
        "--nested",
        choices=["flatten", "struct"],
        default="flatten",
        help="dicts returned by the scraper: column.key columns, or structs (default: %(default)s)",
    )
    _add_run_options(scrape)
    scrape.set_defaults(handler=_scrape)

    try:
        from .emulator import add_emulator_parser

        add_emulator_parser(commands)
    except ImportError:
        pass
    try:
        from .backends._anchor_reap import add_reap_parser

        add_reap_parser(commands)
    except ImportError:
        pass
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The run's options as flags, made from the one declaration (``_core.options.OPTIONS``):
    the names and defaults of ``af.scrape()``, checked by it; a flag not given is not passed."""
    from ._core.options import OPTIONS

    parser.add_argument(
        "--timeline",
        metavar="PATH",
        default=None,
        help="also draw the run's timeline (.html or .png; needs anchorframe[plot])",
    )
    parser.add_argument("--chromium", default=None, help="the Chromium executable for the local backend")
    groups: dict[str, Any] = {}
    for option in OPTIONS:
        if option.cli is None:
            continue
        group = groups.get(option.group)
        if group is None:
            group = groups[option.group] = parser.add_argument_group(f"{option.group} options")
        shown = option.default
        if isinstance(shown, frozenset):
            shown = ",".join(sorted(shown))
        text = option.help + ("" if shown is None else f" (default: {shown})")
        kind = option.cli
        if kind == "flag":
            group.add_argument(
                option.flag, dest=option.name, action=argparse.BooleanOptionalAction, help=text
            )
        elif kind == "header":
            group.add_argument(
                "--header", dest=option.name, action="append", metavar="'NAME: VALUE'", help=text
            )
        elif kind == "choice":
            group.add_argument(option.flag, dest=option.name, choices=option.choices, help=text)
        else:
            convert = {"int": int, "float": float}.get(kind, str)
            metavar = {"list": "A,B", "callable": "MODULE:FUNCTION"}.get(kind)
            group.add_argument(option.flag, dest=option.name, type=convert, metavar=metavar, help=text)
    # The spelling of earlier releases, kept working (not shown).
    parser.add_argument(
        "--overwrite-checkpoint", dest="checkpoint_overwrite", action="store_true", help=argparse.SUPPRESS
    )
    parser.set_defaults(**{option.name: None for option in OPTIONS if option.cli is not None})


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options given on the command line, as ``af.scrape()`` takes them."""
    from ._core.options import OPTIONS

    given: dict[str, Any] = {}
    for option in OPTIONS:
        value = getattr(args, option.name, None)
        if option.cli is None or value is None:
            continue
        if option.cli == "list":
            value = [item.strip() for item in value.split(",") if item.strip()]
        elif option.cli == "header":
            value = dict(_header(text) for text in value)
        elif option.cli == "callable":
            value = _load_callable(value, option.flag)
        given[option.name] = value
    if "backend" in given or args.chromium:
        given["backend"] = _backend(given.get("backend", "auto"), args.chromium)
    return given


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise _usage(f"--header takes 'NAME: VALUE' (e.g. 'Accept-Language: de'), not {text!r}.")
    return name.strip(), value.strip()


def _backend(name: str, chromium: str | None) -> Any:
    if name == "local" or (name == "auto" and chromium):
        from .backends.local import LocalBackend

        return LocalBackend(executable_path=chromium)
    return name


def _threshold(text: str) -> tuple[str, float]:
    """``--max-failed``: "5%" and "0.05" are shares of the rows, "10" is a number of rows."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a share (0.05 or 5%) or a number of rows, not {text!r}"
        ) from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text!r}")
    if raw.endswith("%") or "." in raw or "e" in raw.lower():
        if value > 1:
            raise argparse.ArgumentTypeError(f"a share is at most 1 (100%), not {text!r}")
        return ("share", value)
    return ("rows", value)


def for_the_command_line(text: str) -> str:
    """Advice written for Python (``url='link'``, ``.plot()``) as the command line's flags.

    Example:
        >>> for_the_command_line("Pass url='link' (columns: ['link']), or robots=False.")
        "Pass --url link (columns: ['link']), or --no-robots."
    """
    import re

    from ._core.options import OPTIONS

    for option in OPTIONS:
        if option.cli is None:
            continue
        if option.cli == "flag":
            no = "--no-" + option.flag[2:]
            text = re.sub(rf"\b{option.name}=True\b", option.flag, text)
            text = re.sub(rf"\b{option.name}=False\b", no, text)
            continue
        flag = "--header" if option.cli == "header" else option.flag
        text = re.sub(
            rf"\b{option.name}=(?:'([^']*)'|\"([^\"]*)\"|([\w.:/-]+))",
            lambda m, flag=flag: f"{flag} {m.group(m.lastindex or 0)}",  # type: ignore[misc]
            text,
        )
    return text.replace(".plot() draws it", "--timeline run.html draws it")


def _usage(message: str) -> Exception:
    """A mistake on the command line: one line on stderr and exit status 2, no traceback."""
    from .errors import InputError

    return InputError(message)


def _check_outputs(args: argparse.Namespace) -> None:
    """The files a run will write, checked before anything starts (format known, folder writable)."""
    from ._store.tables import check_output

    check_output(args.out)
    timeline = getattr(args, "timeline", None)
    if timeline and Path(timeline).suffix.lower() not in (".html", ".png", ".svg"):
        raise _usage(f"--timeline takes a .html, .png or .svg file, not {timeline!r}.")


def _write_timeline(result: Any, args: argparse.Namespace) -> None:
    if getattr(args, "timeline", None):
        from ._display.timeline import write_timeline

        write_timeline(result, args.timeline)


def _load_callable(spec: str, flag: str = "--scraper") -> Any:
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise _usage(f"{flag} takes MODULE:FUNCTION (e.g. mypackage.scrapers:product), not {spec!r}.")
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _usage(f"Cannot import {module_name!r} for {flag}: {exc}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise _usage(f"Module {module_name!r} has no {attribute!r} for {flag}.") from None


def _extract(pairs: list[str]) -> dict[str, str]:
    selectors: dict[str, str] = {}
    for pair in pairs:
        name, sep, selector = pair.partition("=")
        if not sep or not name or not selector:
            raise _usage(f"--extract takes NAME=SELECTOR (e.g. price=.price), not {pair!r}.")
        selectors[name] = selector
    return selectors


def _demo(args: argparse.Namespace) -> int:
    import anchorframe as af

    from .demo import DemoSite

    _check_outputs(args)
    with DemoSite() as site:
        frame = site.frame()
        if args.rows is not None:
            frame = _demo_rows(frame, args.rows)
        print(
            f"Scraping the demo shop at {site.base_url} ({len(frame)} rows) with {args.backend} browsers"
            + (f" (render={args.render})" if args.render else "")
            + "...",
            file=sys.stderr,
        )
        result = af.scrape(
            frame, extract={"name": "h1", "price": ".price", "stock": ".stock"}, **_given(args)
        )
    print(for_the_command_line(result.summary()))
    print()
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 12, "display.max_colwidth", 40):
        print(result.results.drop(columns=["af_error", "af_session"]).head(8).to_string())
    write_run(result, args.out)
    _write_timeline(result, args)
    print(f"\nSaved {len(result.results)} rows to {args.out}; errors, sessions and attempts beside it.")
    return 0


def _demo_rows(frame: Any, rows: int) -> Any:
    """``rows`` good pages of the demo shop, static and JavaScript-rendered in the shop's proportion.

    So that a short demo still shows both render paths: most rows over HTTP, some in a browser.
    """
    products = iter(frame.index[(frame["kind"] == "products") & ~frame["url"].duplicated()])
    rendered_rows = frame.index[frame["kind"] == "rendered"]
    share = len(rendered_rows) / max(1, (frame["kind"] == "products").sum() + len(rendered_rows))
    wanted = min(len(rendered_rows), max(1 if rows >= 2 else 0, round(rows * share)))
    rendered = iter(rendered_rows[:wanted])
    # Spread evenly, as a real URL list mixes them: row i is a rendered one when i * share steps up.
    chosen = [
        next(rendered) if (i + 1) * wanted // rows > i * wanted // rows else next(products, None)
        for i in range(rows)
    ]
    return frame.loc[[label for label in chosen if label is not None]]


def _plan(args: argparse.Namespace) -> int:
    import anchorframe as af

    plan = af.plan(
        read_table(args.input),
        extract=_extract(args.extract) if args.extract else None,
        probe=args.probe,
        **_given(args),
    )
    print(plan.explain())
    return 0


def _scrape(args: argparse.Namespace) -> int:
    import anchorframe as af

    _check_outputs(args)
    frame = read_table(args.input)
    scraper = _load_callable(args.scraper) if args.scraper else None
    extract = _extract(args.extract) if args.extract else None
    try:
        result = af.scrape(frame, scraper, extract=extract, **_given(args))
    except af.RunInterrupted as exc:
        if args.checkpoint and exc.partial is not None:
            print(
                f"Interrupted; the rows done are in the checkpoint {args.checkpoint}. "
                "Run the same command again to resume.",
                file=sys.stderr,
            )
        raise
    written = write_run(result, args.out, args.nested)
    _write_timeline(result, args)
    print(for_the_command_line(result.summary()), file=sys.stderr)
    print(
        f"Wrote {len(result.results)} rows to {args.out}; errors, sessions and attempts to "
        + ", ".join(path.name for path in written[1:]),
        file=sys.stderr,
    )
    return _exit_status(result.counts, args.max_failed)


def _exit_status(counts: dict[str, int], limit: tuple[str, float] | None) -> int:
    if limit is None:
        return 0
    bad = counts["failed"] + counts["skipped"]
    scraped = counts["ok"] + bad
    kind, value = limit
    if kind == "rows":
        over, shown = bad > value, f"{bad} of {scraped} rows failed or were skipped"
    else:
        share = bad / scraped if scraped else 0.0
        over, shown = share > value, f"{share:.1%} of rows failed or were skipped ({bad} of {scraped})"
    if over:
        limit_text = f"{value:g} row(s)" if kind == "rows" else f"{value:.1%}"
        print(f"{shown}, above --max-failed {limit_text}.", file=sys.stderr)
        return 1
    return 0


def _stop_on_sigterm() -> None:
    """A scheduler's SIGTERM stops a run like Ctrl-C: browsers released, checkpoint written."""
    import signal
    import threading

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr
    )
    # Every subcommand names its function with set_defaults(handler=...), the one convention.
    handler = getattr(args, "handler", None)
    if args.command is None or handler is None:
        parser.print_help()
        return 2
    from .errors import AnchorframeError

    if args.command in ("demo", "scrape"):
        _stop_on_sigterm()
    try:
        return int(handler(args) or 0)
    except AnchorframeError as exc:
        if isinstance(exc, KeyboardInterrupt):
            print(f"\n{exc}", file=sys.stderr)
            return 130
        print(f"anchorframe: {for_the_command_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
