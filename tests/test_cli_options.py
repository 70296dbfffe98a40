"""The command line's run options are made from the one declaration of scrape()'s options."""

from __future__ import annotations

import subprocess
import sys

import pytest

from anchorframe import cli
from anchorframe._core.options import OPTIONS
from anchorframe.backends.local import LocalBackend


def parse(*argv: str):
    return cli._parser().parse_args(["scrape", "urls.csv", "--out", "x.parquet", *argv])


@pytest.mark.parametrize("command", ["scrape", "plan", "demo"])
def test_every_option_a_pipeline_needs_is_a_flag_of_every_run_command(command):
    """Each declared option with a command-line form is a flag (same name) of scrape, plan and demo."""
    extra = ["urls.csv"] if command != "demo" else []
    if command == "scrape":
        extra += ["--out", "x.parquet"]
    parser = cli._parser()
    parsed = parser.parse_args([command, *extra])
    for option in OPTIONS:
        if option.cli is None:
            continue
        flag = "--header" if option.cli == "header" else option.flag
        if option.name != "backend" or command != "demo":  # the demo runs offline: local
            assert getattr(parsed, option.name) is None  # not given: scrape()'s own default applies
        found = [a for a in _subparser(parser, command)._actions if flag in a.option_strings]
        assert found, f"{command} has no {flag}"
    for wanted in ("--per-site", "--robots", "--no-robots", "--user-agent", "--header", "--workers",
                   "--render", "--block", "--min-delay", "--timezone", "--checkpoint"):  # fmt: skip
        assert any(wanted in a.option_strings for a in _subparser(parser, command)._actions), wanted


def _subparser(parser, command):
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[command]


def test_flags_reach_scrape_as_its_options():
    """Only the flags given are passed, converted to what scrape() takes."""
    args = parse(
        "--per-site", "3", "--no-robots", "--header", "Accept-Language: de", "--header", "X-Team:data",
        "--block", "image, font", "--min-delay", "0.5", "--workers", "2", "--render", "http",
        "--backend", "local", "--overwrite-checkpoint",
    )  # fmt: skip
    given = cli._given(args)
    backend = given.pop("backend")
    assert isinstance(backend, LocalBackend)
    assert given == {
        "per_site": 3,
        "robots": False,
        "headers": {"Accept-Language": "de", "X-Team": "data"},
        "block": ["image", "font"],
        "min_delay": 0.5,
        "workers": 2,
        "render": "http",
        "checkpoint_overwrite": True,
    }
    assert cli._given(parse()) == {}  # nothing given: every default is scrape()'s


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anchorframe", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_bad_value_is_refused_by_scrapes_own_check_with_status_2(tmp_path):
    """--per-site 0 gets the words af.scrape() would say, exit status 2, no traceback."""
    urls = tmp_path / "urls.csv"
    urls.write_text("url\nhttps://a.test/1\n")
    done = run_cli("plan", str(urls), "--per-site", "0", "--backend", "local")
    assert done.returncode == 2 and "per_site must be a whole number >= 1" in done.stderr
    assert "Traceback" not in done.stderr
    done = run_cli("plan", str(urls), "--header", "no colon", "--backend", "local")
    assert done.returncode != 0 and "--header takes 'NAME: VALUE'" in done.stderr


def test_an_output_the_cli_cannot_write_is_refused_before_anything_starts(tmp_path, site):
    """--out in a folder nobody can write, or with an unknown format: exit 2 at once, no page fetched."""
    urls = tmp_path / "urls.csv"
    urls.write_text("url\n" + "\n".join(site.pages(3)) + "\n")
    before = sum(site.hits.values())
    for out, words in (("/proc/out.csv", "cannot be written"), (str(tmp_path / "x.xlsx"), "unknown format")):
        done = run_cli("scrape", str(urls), "--extract", "h=h1", "--out", out, "--backend", "local")
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sum(site.hits.values()) == before  # nothing was fetched


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--extract", "h1"], "--extract takes NAME=SELECTOR"),
        (["--scraper", "json:nope"], "has no 'nope' for --scraper"),
        (["--scraper", "no_such_module_here:f"], "Cannot import 'no_such_module_here'"),
        (["--extract", "h=h1", "--setup", "nocolon"], "--setup takes MODULE:FUNCTION"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, flags, words):
    """A malformed flag is a usage error: status 2 (not 1, kept for --max-failed), one line, no traceback."""
    urls = tmp_path / "urls.csv"
    urls.write_text("url\nhttps://a.test/1\n")
    done = run_cli("scrape", str(urls), *flags, "--out", str(tmp_path / "o.csv"), "--backend", "local")
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_run_s_errors_sessions_and_attempts_are_written_beside_the_rows(tmp_path, site):
    """Without --checkpoint, a pipeline still keeps why rows failed: NAME.errors/.sessions/.attempts."""
    import pandas as pd

    urls = tmp_path / "urls.csv"
    urls.write_text("url\n" + "\n".join([*site.pages(3), site.url("/missing")]) + "\n")
    out = tmp_path / "run" / "prices.parquet"
    done = run_cli(
        "scrape", str(urls), "--extract", "h=h1", "--out", str(out), "--render", "http", "--backend", "local"
    )
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(out)) == 4
    errors = pd.read_parquet(tmp_path / "run" / "prices.errors.parquet")
    assert (errors["scope"] == "url").any()
    assert (tmp_path / "run" / "prices.sessions.parquet").exists()
    attempts = pd.read_parquet(tmp_path / "run" / "prices.attempts.parquet")
    assert len(attempts) >= 4


def test_the_cli_gives_advice_as_flags_not_python(tmp_path):
    """A missing URL column: the fix is named as --url, not url='link'."""
    urls = tmp_path / "urls.csv"
    urls.write_text("link,title\nhttps://a.test/1,A\n")
    done = run_cli("plan", str(urls), "--backend", "local")
    assert done.returncode == 2 and "--url link" in done.stderr and "url='link'" not in done.stderr
