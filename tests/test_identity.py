"""Identity options are checked before anything starts; secrets in headers never show. No I/O."""

from __future__ import annotations

import doctest
import pickle

import pytest

import anchorframe._manners.identity
from anchorframe._manners.identity import (
    Headers,
    check_headers,
    check_identity,
    check_locale,
    check_timezone,
    check_user_agent,
)
from anchorframe.errors import InputError, InputTypeError

SECRET = "Bearer sk-live-0123456789"


def test_user_agent_accepts_one_line_of_text_or_none():
    assert check_user_agent(None) is None
    agent = "Mozilla/5.0 (X11; Linux x86_64) mybot/1.0"
    assert check_user_agent(agent) == agent


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        (42, InputTypeError, "user_agent= must be a string"),
        ("", InputError, "user_agent= is empty"),
        ("bot/1\r\nX-Evil: 1", InputError, "line break"),
    ],
)
def test_user_agent_misuse_names_the_option_and_the_fix(value, error, words):
    with pytest.raises(error, match=words):
        check_user_agent(value)


def test_headers_come_back_as_a_read_only_mapping():
    headers = check_headers({"Accept-Language": "de-DE", "X-Team": "prices"})
    assert dict(headers) == {"Accept-Language": "de-DE", "X-Team": "prices"}
    assert check_headers(None) is None
    with pytest.raises(TypeError):
        headers["X-Team"] = "other"  # type: ignore[index]


@pytest.mark.parametrize(
    ("headers", "error", "words"),
    [
        ([("A", "b")], InputTypeError, "headers= must be a mapping"),
        ({"Host": "example.com"}, InputError, "must not set 'Host'"),
        ({"content-length": "3"}, InputError, "must not set 'content-length'"),
        ({"Connection": "close"}, InputError, "hop-by-hop"),
        ({"Transfer-Encoding": "chunked"}, InputError, "hop-by-hop"),
        ({"Proxy-Authorization": "Basic x"}, InputError, "hop-by-hop"),
        ({"User-Agent": "bot"}, InputError, "Pass user_agent="),
        ({"Bad Name": "x"}, InputError, "not a valid HTTP field name"),
        ({1: "x"}, InputError, "not a valid HTTP field name"),
        ({"X-N": 3}, InputTypeError, "must be a string"),
        ({"X-A": "1", "x-a": "2"}, InputError, "one header in two spellings"),
        ({"X-A": "1\nX-B: 2"}, InputError, "line break"),
    ],
)
def test_header_misuse_names_the_option_and_the_fix(headers, error, words):
    with pytest.raises(error, match=words) as caught:
        check_headers(headers)
    assert str(caught.value).startswith("headers=") and str(caught.value).endswith(".")


def test_a_bad_header_value_is_never_quoted_in_the_error():
    with pytest.raises(InputError) as caught:
        check_headers({"Authorization": SECRET + "\r\n"})
    assert "sk-live" not in str(caught.value)


@pytest.mark.parametrize("name", ["Authorization", "Cookie", "X-Api-Key", "X-Session-Id", "My-Token"])
def test_sensitive_header_values_never_show_in_reprs(name):
    headers = check_headers({name: SECRET, "Accept": "text/html"})
    identity = check_identity(headers={name: SECRET})
    for text in (repr(headers), str(headers), repr(identity), f"{identity}"):
        assert "sk-live" not in text and "<redacted>" in text
    assert "text/html" in repr(headers)
    assert headers.secrets() == (SECRET,) and identity.secrets() == (SECRET,)
    assert pickle.loads(pickle.dumps(headers)) == headers


@pytest.mark.parametrize("tag", ["en", "en-US", "de-DE", "zh-Hant-TW", "es-419", "sl-rozaj", "fil-PH"])
def test_locale_accepts_bcp47_tags(tag):
    assert check_locale(tag) == tag


@pytest.mark.parametrize(
    ("tag", "hint"),
    [("en_US", "Did you mean locale='en-US'?"), ("en_US.UTF-8", "locale='en-US'"), ("english", "BCP 47")],
)
def test_locale_misuse_names_the_fix(tag, hint):
    with pytest.raises(InputError, match=hint):
        check_locale(tag)
    with pytest.raises(InputTypeError):
        check_locale(7)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Asia/Kolkata"])
def test_timezone_accepts_iana_names(name):
    assert check_timezone(name) == name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("Europe/Berln", "Did you mean timezone='Europe/Berlin'?"),
        ("UTC+2", "offsets like 'UTC\\+2' are not names"),
        ("../../etc/passwd", "not an IANA time zone name"),
        ("", "not an IANA time zone name"),
    ],
)
def test_timezone_misuse_names_the_fix(name, hint):
    with pytest.raises(InputError, match=hint):
        check_timezone(name)


def test_context_options_hold_only_what_was_set():
    identity = check_identity(
        user_agent="bot/1", headers={"Accept-Language": "de"}, locale="de-DE", timezone="Europe/Berlin"
    )
    assert identity.context_options() == {
        "user_agent": "bot/1",
        "extra_http_headers": {"Accept-Language": "de"},
        "locale": "de-DE",
        "timezone_id": "Europe/Berlin",
    }
    assert check_identity().context_options() == {}
    assert isinstance(identity.headers, Headers)


def test_docstring_examples():
    outcome = doctest.testmod(anchorframe._manners.identity, optionflags=doctest.ELLIPSIS)
    assert outcome.attempted > 0 and outcome.failed == 0
