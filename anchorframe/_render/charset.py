"""Decoding a page's bytes as a browser does. No I/O.

The order: a byte-order mark, else the ``Content-Type`` charset, else
``<meta charset>`` / ``http-equiv`` in the first 8 kB, else UTF-8 if the bytes
decode as UTF-8, else windows-1252. Labels map as browsers map them (WHATWG
Encoding Standard): ``iso-8859-1`` and ``ascii`` are windows-1252, ``shift_jis``
is cp932, ``gb2312`` is gb18030, a ``<meta>`` saying UTF-16 means UTF-8.
Undecodable bytes become U+FFFD, as in a browser.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_html"]

# WHATWG encoding labels that name a different codec in a browser than in Python.
_BROWSER_CODECS = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "utf-16": "utf-8",  # a <meta> that says UTF-16 means UTF-8 (the bytes were read as ASCII)
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
}
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?\bcharset\s*=\s*["']?\s*([\w.:-]+)""",
    re.IGNORECASE,
)


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode a page's bytes as a browser would; return (text, codec used).

    Example:
        >>> decode_html("<meta charset='windows-1252'>caf\\xe9".encode("cp1252"))
        ("<meta charset='windows-1252'>café", 'cp1252')
        >>> decode_html(b"\\x93hi\\x94", "text/html; charset=ISO-8859-1")[0]
        '“hi”'
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name
    declared = None
    match = _HEADER_CHARSET.search(content_type)
    if match:
        declared = _codec(match.group(1), from_meta=False)
    if declared is None:
        meta = _META_CHARSET.search(body[:8192])
        if meta:
            declared = _codec(meta.group(1).decode("ascii", "replace"), from_meta=True)
    if declared is not None:
        return body.decode(declared, errors="replace"), declared
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace"), "cp1252"


def _codec(label: str, *, from_meta: bool) -> str | None:
    label = label.strip().lower()
    name = _BROWSER_CODECS.get(label)
    if name is None or (not from_meta and label.startswith("utf-16")):
        name = label
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None
