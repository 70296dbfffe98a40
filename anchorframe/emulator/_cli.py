"""``anchorframe emulator``: run the emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import sys
import threading
from typing import Any

from ._faults import Faults

__all__ = ["add_emulator_arguments", "add_emulator_parser", "cli_main", "run_emulator_command"]

DESCRIPTION = (
    "Run an Anchor Browser compatible REST API on loopback, backed by local Chromium. "
    "Point a client at it with ANCHOR_BASE_URL and ANCHOR_API_KEY (printed at start)."
)


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text}")
    return value


def add_emulator_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the emulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--api-key", help="key clients must send (default: a generated one)")
    parser.add_argument("--no-auth", action="store_true", help="accept any API key, or none")
    parser.add_argument("--seed", help="make ids and fault decisions reproducible")
    parser.add_argument("--launch-concurrency", type=int, default=2, help="Chromium launches at once")
    parser.add_argument(
        "--seconds-per-minute",
        type=float,
        default=60.0,
        help="real seconds per minute of max_duration (default 60)",
    )
    parser.add_argument("--chromium", help="Chromium executable (default: found automatically)")
    faults = parser.add_argument_group("fault injection")
    faults.add_argument(
        "--fail-provision",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of sessions that fail to provision",
    )
    faults.add_argument(
        "--provision-delay",
        type=_seconds,
        default=0.0,
        metavar="S",
        help="extra seconds per session provisioning",
    )
    faults.add_argument(
        "--crash",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of ready sessions whose Chromium is killed later",
    )
    faults.add_argument(
        "--crash-after",
        type=_seconds,
        default=5.0,
        metavar="S",
        help="seconds after ready before such a crash (default 5)",
    )
    faults.add_argument(
        "--rate-limit", type=_share, default=0.0, metavar="SHARE", help="share of requests answered 429"
    )
    faults.add_argument(
        "--retry-after",
        type=_seconds,
        default=1.0,
        metavar="S",
        help="Retry-After of those 429 answers (default 1)",
    )
    faults.add_argument(
        "--server-error", type=_share, default=0.0, metavar="SHARE", help="share of requests answered 500"
    )
    faults.add_argument(
        "--credit-limit",
        type=int,
        default=None,
        metavar="N",
        help="sessions that may be created in total; beyond it 402",
    )
    faults.add_argument(
        "--cost-limit",
        type=int,
        default=None,
        metavar="N",
        help="sessions the project may spend; beyond it async creates 403, batch creates 402",
    )
    faults.add_argument(
        "--max-concurrent-sessions",
        type=int,
        default=None,
        metavar="N",
        help="live sessions allowed at once; beyond it async creates 429 and batch sessions fail",
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="keep the extras of earlier releases that the published API lacks (batch metadata...)",
    )
    faults.add_argument(
        "--answer-delay", type=_seconds, default=0.0, metavar="S", help="hold every API answer back this long"
    )
    return parser


def add_emulator_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``emulator`` subcommand to an argparse ``subparsers`` object.

    The parser's ``handler`` (the CLI's one dispatch convention) is :func:`run_emulator_command`.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emulator", help="run an Anchor-compatible API on loopback", description=DESCRIPTION
    )
    add_emulator_arguments(parser)
    parser.set_defaults(handler=run_emulator_command)
    return parser


def faults_from_args(args: argparse.Namespace) -> Faults:
    return Faults(
        fail_provision=args.fail_provision,
        provision_delay=args.provision_delay,
        crash=args.crash,
        crash_after=args.crash_after,
        rate_limit=args.rate_limit,
        retry_after=args.retry_after,
        server_error=args.server_error,
        credit_limit=args.credit_limit,
        cost_limit=args.cost_limit,
        max_concurrent_sessions=args.max_concurrent_sessions,
        answer_delay=args.answer_delay,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_emulator_command(args: argparse.Namespace, *, stop: threading.Event | None = None) -> int:
    """Run the emulator until Ctrl-C (or ``stop`` is set); every session ends on exit."""
    from ._server import Emulator

    seed: int | str | None = args.seed
    if isinstance(seed, str) and seed.lstrip("-").isdigit():
        seed = int(seed)
    emulator = Emulator(
        api_key=args.api_key,
        check_key=not args.no_auth,
        host=args.host,
        port=args.port,
        seed=seed,
        faults=faults_from_args(args),
        launch_concurrency=args.launch_concurrency,
        seconds_per_minute=args.seconds_per_minute,
        chromium=args.chromium,
        lenient=args.lenient,
    )
    if not _is_loopback(args.host):
        print(
            f"warning: listening on {args.host}, not loopback: others can use this emulator.", file=sys.stderr
        )
    with emulator:
        print(f"Anchor emulator listening on {emulator.base_url} (Ctrl-C to stop)")
        print(f"  export ANCHOR_BASE_URL={emulator.base_url}")
        if args.no_auth:
            print("  (any API key is accepted)")
        else:
            print(f"  export ANCHOR_API_KEY={emulator.api_key}")
        sys.stdout.flush()
        waiter = stop or threading.Event()
        try:
            while not waiter.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("Stopping: ending every session.", file=sys.stderr)
    return 0


def cli_main(argv: list[str] | None = None) -> int:
    """``python -m anchorframe.emulator [options]``."""
    parser = argparse.ArgumentParser(prog="anchorframe emulator", description=DESCRIPTION)
    add_emulator_arguments(parser)
    return run_emulator_command(parser.parse_args(argv))
