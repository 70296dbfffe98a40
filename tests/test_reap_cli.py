"""``anchorframe reap`` on the command line, and the CLI's one dispatch convention (no browser)."""

from __future__ import annotations

import socket

from anchorframe import cli


def test_every_subcommand_names_its_handler():
    """Each subcommand sets ``handler`` (set_defaults), the only convention main() reads."""
    parser = cli._parser()
    samples = {
        "demo": ["demo"],
        "plan": ["plan", "x.csv"],
        "scrape": ["scrape", "x.csv", "--out", "y.csv"],
        "emulator": ["emulator"],
        "reap": ["reap"],
    }
    for name, argv in samples.items():
        args = parser.parse_args(argv)
        assert callable(args.handler), name
        assert not hasattr(args, "func"), name


def test_reap_without_a_reachable_api_is_a_clear_error(capsys, monkeypatch):
    """No API at the base URL: exit status 2 and a sentence naming the fix, no traceback, no key."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ANCHOR_API_KEY", "secret-key-for-reap-test")
    status = cli.main(["reap", "--run", "r1", "--base-url", f"http://127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert status == 2 and "Could not reach the Anchor API" in err and "ANCHOR_BASE_URL" in err
    assert "secret-key-for-reap-test" not in err and "Traceback" not in err


def test_reap_run_and_tag_are_exclusive(capsys):
    try:
        cli._parser().parse_args(["reap", "--run", "a", "--tag", "b"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
