"""The API key never shows in a repr, a log line or an exception; CDP URLs stay hidden."""

from __future__ import annotations

import asyncio
import io
import logging
import pickle
import types

import pytest

from anchorframe.client import AnchorClient, AsyncAnchorClient
from anchorframe.errors import AnchorAPIError

SECRET = "sk-anchorframe-SECRET-0123456789"


def pickled_with_chain(exc: BaseException) -> bytes:
    """Pickle ``exc`` the way Dask does once ``distributed`` is imported: tblib's reducer carries
    ``__cause__``, ``__context__`` and the traceback of every exception along the way."""
    pickling_support = pytest.importorskip("tblib.pickling_support")

    class ChainPickler(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, BaseException):
                return pickling_support.pickle_exception(obj)
            if isinstance(obj, types.TracebackType):
                return pickling_support.pickle_traceback(obj)
            return NotImplemented

    buffer = io.BytesIO()
    ChainPickler(buffer).dump(exc)
    return buffer.getvalue()


def test_key_never_leaks(make_emulator, closed_port, caplog):
    """Reprs, DEBUG logs, exception texts and pickles of errors never hold the key."""
    caplog.set_level(logging.DEBUG)
    emu = make_emulator(api_key=SECRET)
    texts: list[str] = [repr(emu), str(emu.state())]
    errors: list[AnchorAPIError] = []
    with AnchorClient(SECRET, base_url=emu.base_url, retry_initial_delay=0.01) as client:
        texts.append(repr(client))
        created = client.create_batch(1, metadata={"run": "r-secret"})
        batch = client.wait_batch(created.batch_id, initial_interval=0.05, max_interval=0.2)
        texts += [repr(created), repr(batch), repr(batch.sessions), str(batch.describe())]
        texts += [repr(client.list_batches()), repr(client.delete_batch(created.batch_id))]
        for bad in (lambda: client.create_batch(0), lambda: client.get_batch("nope")):
            try:
                bad()
            except AnchorAPIError as exc:
                errors.append(exc)
        emu.set_faults(answer_delay=0.5)
        with AnchorClient(SECRET, base_url=emu.base_url, timeout=0.1, max_retries=0) as slow:
            try:
                slow.list_batches(status="completed")
            except AnchorAPIError as exc:
                errors.append(exc)
        emu.set_faults(answer_delay=0.0)
    with AnchorClient(SECRET + "-wrong", base_url=emu.base_url) as wrong:
        try:
            wrong.list_batches()
        except AnchorAPIError as exc:
            errors.append(exc)
    with AnchorClient(SECRET, base_url=f"http://127.0.0.1:{closed_port}", max_retries=0) as gone:
        try:
            gone.list_batches(status="pending")
        except AnchorAPIError as exc:
            errors.append(exc)

    async def async_errors() -> None:
        async with AsyncAnchorClient(SECRET, base_url=emu.base_url, max_retries=0) as aclient:
            texts.append(repr(aclient))
            try:
                await aclient.get_batch("nope")
            except AnchorAPIError as exc:
                errors.append(exc)

    asyncio.run(async_errors())
    assert len(errors) == 6
    for exc in errors:
        texts += [str(exc), repr(exc), repr(exc.__dict__), repr(exc.__cause__), repr(exc.__context__)]
        assert "?" not in str(exc), "no URL with a query string in a message"
        assert pickle.loads(pickle.dumps(exc)).args == exc.args
        assert SECRET.encode() not in pickle.dumps(exc)
        assert SECRET.encode() not in pickled_with_chain(exc)
    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    texts += [repr(r) for r in emu.requests]
    assert caplog.records, "DEBUG logging was captured"
    for text in texts:
        assert SECRET not in text


def test_cdp_urls_stay_out_of_reprs(client):
    """A ready session's repr and its batch's repr do not show the CDP URL."""
    created = client.create_batch(1)
    batch = client.wait_batch(created.batch_id, initial_interval=0.05, max_interval=0.2)
    url = batch.sessions[0].cdp_url
    assert url and url not in repr(batch) and url not in repr(batch.sessions[0])
    client.delete_batch(created.batch_id)


@pytest.mark.parametrize("base_url", ["ftp://example.invalid", "not a url"])
def test_bad_base_url_is_refused(base_url):
    """A base URL that is not http(s) is refused at construction."""
    with pytest.raises(ValueError, match="not an http"):
        AnchorClient("k", base_url=base_url)
