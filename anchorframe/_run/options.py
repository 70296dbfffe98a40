"""The options of scrape(), ascrape() and plan(): checked once, before anything starts. No I/O.

:data:`anchorframe._core.options.OPTIONS` declares every option (name, default, group, how
the command line takes it); each public ``def`` names them (a test holds them to it).
:func:`check_options` checks every value before anything is started or locked (no
checkpoint, no browser, no session) and returns the typed
:class:`~anchorframe._core.options.ScrapeOptions`: misuse raises
:class:`~anchorframe.errors.InputError` naming the option and the fix, and
:func:`refuses_unknown_options` names the option a misspelt keyword meant.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .._core.options import (
    PROGRESS_KINDS,
    RENDERS,
    RESOURCE_TYPES,
    Attempts,
    BrowserOptions,
    EngineOptions,
    RenderMode,
    ScrapeFn,
    ScrapeOptions,
    SitePolicy,
    Sizing,
)
from .._manners.identity import check_identity
from .._render.extractor import Extractor
from ..errors import InputError, InputTypeError

if TYPE_CHECKING:
    from ..backends._base import Backend

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["check_options", "refuses_unknown_options", "resolve_backend"]

_API_KEY_VARIABLES = ("ANCHOR_API_KEY", "ANCHORBROWSER_API_KEY")


def refuse_unknown(function: str, given: Iterable[str], options: Sequence[str]) -> None:
    """Raise InputTypeError for each name of ``given`` not in ``options``, with the closest one.

    Example:
        >>> refuse_unknown("scrape", ["retires"], ["retries", "timeout"])
        Traceback (most recent call last):
        ...
        anchorframe.errors.InputTypeError: scrape() got an unexpected keyword argument 'retires' (did ...
    """
    unknown = [key for key in given if key not in options]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(options), n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise InputTypeError(
        f"{function}() got an unexpected keyword argument {', '.join(hints)}. "
        f"Its options are: {', '.join(options)}."
    )


def refuses_unknown_options(fn: Callable[P, R]) -> Callable[P, R]:
    """Refuse a misspelt or misplaced argument with the fix: the closest option's name, or the order.

    ``fn``'s own ``def`` names its parameters (type checkers and IDEs read it); this wrapper only
    turns Python's TypeError for a bad call into an :class:`~anchorframe.errors.InputTypeError`
    (a TypeError too) that names the option a typo meant.
    """
    signature = inspect.signature(fn)
    name = fn.__name__

    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        refuse_unknown(name, kwargs, list(signature.parameters))  # data= and fn= by name are fine
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InputTypeError(
                f"{name}(): {exc}. Pass the data, then the callable, then options by name."
            ) from None

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def checked_async(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # a notebook shows the user's cell, not this frame
            check(args, kwargs)
            return await fn(*args, **kwargs)  # type: ignore[misc]

        return checked_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        check(args, kwargs)
        return fn(*args, **kwargs)

    return checked  # type: ignore[return-value]


def check_options(arguments: Mapping[str, Any], *, estimate: bool = False) -> ScrapeOptions:
    """Check every option of a run (as :func:`bind` returns them); raise InputError on misuse."""
    a = dict(arguments)
    scraper = resolve_callable(a["fn"], a["extract"])
    setup = a["setup"]
    if setup is not None and not is_async(setup):
        raise InputTypeError("setup must be an async function: async def setup(page): ...")
    if setup is not None:
        check_shape(setup, names="page", when="once per session, before its rows")
    # The sizing rule checks its own inputs (``plan_sessions``); scrape() runs it before anything starts.
    sizing = Sizing(**{f.name: a[f.name] for f in dataclasses.fields(Sizing)})
    backend = resolve_backend(a["backend"], estimate=estimate)
    max_replacements = a["max_replacements"]
    if max_replacements is not None:
        max_replacements = number("max_replacements", max_replacements, minimum=0, integer=True)
    renew = a["renew_context_after"]
    if renew is not None:
        renew = number("renew_context_after", renew, minimum=1, integer=True)
    engine = EngineOptions(
        attempts=Attempts(
            timeout=float(number("timeout", a["timeout"], minimum=0.001)),
            retries=number("retries", a["retries"], minimum=0, integer=True),
            backoff=float(number("backoff", a["backoff"], minimum=0)),
            connect_timeout=float(number("connect_timeout", a["connect_timeout"], minimum=0.001)),
            max_replacements=max_replacements,
            allow_status=status_set(a["allow_status"]),
        ),
        sites=SitePolicy(
            per_site=number("per_site", a["per_site"], minimum=1, integer=True),
            min_delay=float(number("min_delay", a["min_delay"], minimum=0)),
            robots=bool(flag("robots", a["robots"])),
        ),
        browser=BrowserOptions(
            setup=setup,
            block=block_set(a["block"]),
            reuse_pages=flag("reuse_pages", a["reuse_pages"], allow_none=True),
            renew_context_after=renew,
        ),
        identity=check_identity(
            user_agent=a["user_agent"], headers=a["headers"], locale=a["locale"], timezone=a["timezone"]
        ),
        render=check_render(a["render"], scraper, backend=backend, setup=setup),
        evidence=number("evidence", a["evidence"], minimum=0, integer=True),
    )
    checkpoint = a["checkpoint"]
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise InputError(
            f"checkpoint must be a path (a str or pathlib.Path), not {type(checkpoint).__name__}: "
            "e.g. checkpoint='run.parquet'."
        )
    if checkpoint is not None and os.path.isfile(checkpoint):
        raise InputError(
            f"checkpoint={os.fspath(checkpoint)!r} is a file; a checkpoint is a directory anchorframe "
            "makes. Name a new path (e.g. checkpoint='run.ckpt'), or remove the file."
        )
    workers, cluster, out = check_scale_out(a["workers"], a["cluster"], a["out"])
    call = {k: v for k, v in a.items() if k not in ("data", "checkpoint", "checkpoint_overwrite", "extract")}
    call.update(fn=scraper, backend=backend)
    options = ScrapeOptions(
        scraper=scraper,
        url=a["url"],
        backend=backend,
        progress=check_progress(a["progress"]),
        dedupe=bool(flag("dedupe", a["dedupe"])),
        schemes=scheme_set(a["schemes"]),
        checkpoint=checkpoint,
        checkpoint_overwrite=bool(flag("checkpoint_overwrite", a["checkpoint_overwrite"])),
        sizing=sizing,
        engine=engine,
        call=call,
        workers=workers,
        cluster=cluster,
        out=out,
    )
    if (workers > 1 or cluster is not None or out is not None) and engine.identity.secrets():
        raise InputError(
            "headers= holds a credential (an Authorization, Cookie or API-key header), which "
            "workers= and cluster= would have to send to other processes; run it without them, "
            "or log in with setup= instead."
        )
    if workers > 1 or cluster is not None or out is not None:
        from .._scale.shards import check_travels  # the scraper must reach other processes

        check_travels(options)
    return options


def check_scale_out(workers: Any, cluster: Any, out: Any) -> tuple[int, Any, str | None]:
    """``workers=``, ``cluster=`` and ``out=``, checked (no I/O; Dask is not imported here).

    Whether ``out`` can be written (and is empty) is checked when the run opens it,
    before any shard starts (``_out.check_out``).
    """
    workers = number("workers", workers, minimum=1, integer=True)
    if cluster is not None and not isinstance(cluster, str) and not hasattr(cluster, "submit"):
        raise InputError(
            f"cluster must be a dask.distributed.Client or a scheduler address such as "
            f"'tcp://10.0.0.5:8786', not {type(cluster).__name__}."
        )
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise InputError(
            f"out must be a directory path or a URL such as 's3://bucket/run/' (the Parquet dataset "
            f"the workers write), not {type(out).__name__}."
        )
    return workers, cluster, None if out is None else os.fspath(out)


# ---------------------------------------------------------------------- checks
def number(name: str, value: Any, *, minimum: float, integer: bool = False) -> Any:
    """``value`` if it is a number >= ``minimum`` (seconds may be a timedelta), else InputError."""
    if isinstance(value, timedelta) and not integer:
        value = value.total_seconds()
    bad = (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
    )
    if bad or (isinstance(value, float) and math.isnan(value)) or value < minimum:
        kind = "a whole number" if integer else "a number of seconds"
        raise InputError(f"{name} must be {kind} >= {minimum:g}, not {value!r}.")
    return value


def flag(name: str, value: Any, *, allow_none: bool = False) -> bool | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        allowed = "True, False or None" if allow_none else "True or False"
        raise InputError(f"{name} must be {allowed}, not {value!r}.")
    return value


def check_render(render: Any, scraper: Any, *, backend: Any = None, setup: Any = None) -> RenderMode:
    """The path rows take: "browser", "http" (no browser at all) or "auto" (HTTP first).

    ``render=None`` means "auto" for the built-in extractors (``extract=``, the page
    summary), unless the browser would see other pages than plain HTTP from this
    machine: a ``setup=`` (it logs the browser in), or a backend whose
    ``render_default`` is "browser" (an in-memory web, a cloud session behind a proxy).
    A user's callable always gets a browser.

    Example:
        >>> from anchorframe.extract import page_summary
        >>> check_render(None, page_summary), check_render(None, page_summary, setup=print)
        ('auto', 'browser')
    """
    if render is not None and render not in RENDERS:
        raise InputError(f"render must be one of {list(RENDERS)} (or None for the default), not {render!r}.")
    builtin = isinstance(scraper, Extractor)
    if render is None:
        if not builtin or setup is not None:
            return "browser"
        default: RenderMode = getattr(backend, "render_default", "auto")
        return default
    if render != "browser" and not builtin:
        raise InputError(
            f"render={render!r} works with the built-in extractors (extract={{...}} or the page summary), "
            "which can read plain HTML; a callable is Playwright code and runs in a browser. "
            "Pass extract={'name': 'h1', ...} instead of the callable, or drop render=."
        )
    return render  # type: ignore[no-any-return]


def check_progress(progress: Any) -> bool | str | None:
    if progress is None or isinstance(progress, bool) or progress in PROGRESS_KINDS:
        return progress  # type: ignore[no-any-return]
    raise InputError(
        f"progress must be None (pick by looking), True, False or one of {list(PROGRESS_KINDS)}, "
        f"not {progress!r}."
    )


def scheme_set(schemes: Any) -> frozenset[str]:
    if isinstance(schemes, str):
        schemes = [schemes]
    try:
        items = frozenset(str(s).lower() for s in schemes)
    except TypeError:
        raise InputError(
            f"schemes must be a set of URL schemes such as {{'https'}}, not {schemes!r}."
        ) from None
    if not items:
        raise InputError("schemes is empty: allow at least one, e.g. schemes={'https'}.")
    return items


def status_set(statuses: Any) -> frozenset[int]:
    """``allow_status=``: HTTP statuses from 400 to 599 (``"404,410"`` from the command line too).

    Example:
        >>> sorted(status_set([404, "410"]))
        [404, 410]
    """
    if statuses is None:
        return frozenset()
    if isinstance(statuses, (int, str)):
        statuses = [statuses]
    try:
        items = frozenset(int(s) for s in statuses)
    except (TypeError, ValueError):
        raise InputError(
            f"allow_status must be HTTP statuses such as {{404, 410}}, not {statuses!r}."
        ) from None
    wrong = sorted(s for s in items if not 400 <= s <= 599)
    if wrong:
        raise InputError(
            f"allow_status takes error statuses (400-599), not {wrong}: pages below 400 are ok already."
        )
    return items


def block_set(block: Iterable[str] | str | bool | None) -> frozenset[str]:
    if block is None or block is False:
        return frozenset()
    if block is True:
        return frozenset({"image", "font", "media"})
    try:
        items = frozenset([block] if isinstance(block, str) else block)
    except TypeError:
        raise InputError(f"block must be True, False or a set of resource types, not {block!r}.") from None
    unknown = items - RESOURCE_TYPES
    if unknown:
        raise InputError(
            f"block= has unknown resource types {sorted(map(str, unknown))}; "
            f"use some of {sorted(RESOURCE_TYPES)}."
        )
    return items


def is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def resolve_callable(fn: Any, extract: Mapping[str, str] | None) -> ScrapeFn:
    """The callable a run uses: ``fn``, the CSS extractor of ``extract=``, or the page summary."""
    from ..extract import css, page_summary

    if fn is not None and extract is not None:
        raise InputError("Pass either a callable or extract={...}, not both.")
    if extract is not None:
        return css(extract)  # type: ignore[no-any-return]
    if fn is None:
        return page_summary
    if isinstance(fn, Mapping):
        return css(fn)  # type: ignore[no-any-return]
    if not callable(fn):
        raise InputTypeError(
            f"The scraper must be an async function (page, row) -> dict, not {type(fn).__name__}."
        )
    if not is_async(fn):
        name = getattr(fn, "__name__", "scraper")
        if not name.isidentifier():
            name = "scraper"
        raise InputTypeError(
            f"{name}() is a plain function, but anchorframe drives Playwright's async API and needs "
            "an async one. Write it as:\n\n"
            f"    async def {name}(page, row):\n"
            "        await page.goto(row.url)\n"
            "        return {'title': await page.title()}\n"
        )
    check_shape(fn)
    return fn  # type: ignore[no-any-return]


def check_shape(
    fn: Any, *, names: str = "page, row", when: str = "for every row (its URL is row.url)"
) -> None:
    """Refuse a callable that cannot be called as ``fn(page, row)`` (e.g. ``async def one(page)``).

    Example:
        >>> async def one(page): ...
        >>> check_shape(one)
        Traceback (most recent call last):
        ...
        anchorframe.errors.InputTypeError: one() takes ... but anchorframe calls it as one(page, row) ...
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or an object whose signature Python cannot read: trust it
    arguments = [object()] * (names.count(",") + 1)
    try:
        signature.bind(*arguments)
    except TypeError:
        name = getattr(fn, "__name__", None) or type(fn).__name__
        if not str(name).isidentifier():
            name = "scraper"
        raise InputTypeError(
            f"{name}() takes {_parameters(signature)}, but anchorframe calls it as {name}({names}) "
            f"{when}. Write it as: async def {name}({names}): ..."
        ) from None


def _parameters(signature: inspect.Signature) -> str:
    shown = str(signature).split(" ->")[0]
    return "no parameters" if shown == "()" else f"the parameters {shown}"


def resolve_backend(backend: Any, *, estimate: bool = False) -> Backend:
    """Turn ``backend=`` into a Backend: "auto" (Anchor when a key is set, else local), "local", "anchor".

    ``estimate``: for ``af.plan()``, which needs no key to size a cloud run: "anchor" without
    one is a backend that plans and never provisions.
    """
    from ..backends._base import Backend
    from ..backends.local import LocalBackend

    if isinstance(backend, Backend):
        return backend
    if backend is None or backend == "auto":
        if any(os.environ.get(name) for name in _API_KEY_VARIABLES):
            return _anchor_backend()
        return LocalBackend()
    if backend == "local":
        return LocalBackend()
    if backend == "anchor":
        if estimate and not any(os.environ.get(name) for name in _API_KEY_VARIABLES):
            from ..backends.anchor import AnchorBackend

            return AnchorBackend(api_key=PLAN_ONLY_KEY)
        return _anchor_backend()
    raise InputError(f"backend must be 'auto', 'local', 'anchor' or a Backend instance, not {backend!r}.")


#: The stand-in key of ``af.plan(backend="anchor")`` without one: the plan needs none and starts nothing.
PLAN_ONLY_KEY = "no-key-plan-only"


def _anchor_backend() -> Backend:
    from ..backends.anchor import AnchorBackend

    return AnchorBackend()
