"""Keep secrets (API keys, CDP URLs that embed them) out of text we show. No I/O."""

from __future__ import annotations

import re

__all__ = ["mask_password", "redact"]

_WS_URL = re.compile(r"\b(wss?|https?)://[^\s'\"<>]+", re.IGNORECASE)
_KEY_PARAM = re.compile(r"(?i)(api[_-]?key|apikey|access[_-]?token)=([^&\s'\"]+)")


def redact(text: str, *secrets: str | None) -> str:
    """Remove each secret, every CDP/websocket URL and ``apiKey=`` style parameters from ``text``.

    Example:
        >>> redact("connect wss://connect.example?apiKey=sk-1&sessionId=2 failed")
        'connect wss://connect.example?<redacted> failed'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")

    def _url(match: re.Match[str]) -> str:
        url = match.group(0)
        scheme = match.group(1).lower()
        if scheme in ("ws", "wss"):
            base = url.split("?", 1)[0]
            if "/devtools/" in base:
                base = base.split("/devtools/", 1)[0] + "/devtools/<redacted>"
            return base + ("?<redacted>" if "?" in url else "")
        return _KEY_PARAM.sub(lambda m: f"{m.group(1)}=<redacted>", url)

    text = _WS_URL.sub(_url, text)
    return _KEY_PARAM.sub(lambda m: f"{m.group(1)}=<redacted>", text)


def mask_password(url: str) -> str:
    """``url`` with a password in its user part masked (for a URL kept, e.g. in a checkpoint).

    Example:
        >>> mask_password("s3://key:secret@bucket/run/"), mask_password("/data/out")
        ('s3://key:***@bucket/run/', '/data/out')
    """
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
