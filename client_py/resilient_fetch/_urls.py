"""URL joining and request checks, done once before any policy runs.

A base URL is a prefix (httpx semantics): ``http://api.test/v1`` + ``items``
and + ``/items`` both give ``http://api.test/v1/items``; an absolute URL is
used as given. A request that cannot be sent as written (bad scheme, host,
port, characters, or a header that is not Latin-1 or holds a line break)
raises ``InvalidRequestError``: it is the caller's mistake, not the network's,
so it is never retried and never counts against a breaker.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ._errors import InvalidRequestError
from ._models import Headers

SCHEMES = ("http", "https")
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# RFC 9110 token characters for header names.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
# Latin-1 without NUL, CR or LF (RFC 9110 field values; obs-text allowed).
_GOOD_VALUE = re.compile(r"[^\x00\r\n\u0100-\U0010ffff]*")
# The common case, checked with one regex: http(s), an ASCII host, a port, printable ASCII.
_PLAIN_URL = re.compile(r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9.-]+(?::(\d{1,5}))?(?:[/?#][!-~]*)?")
MAX_URL_LENGTH = 64 * 1024


def is_absolute(url: str) -> bool:
    """True when ``url`` starts with a scheme (``http:``, ``ftp:``, ``javascript:``...)."""
    return bool(_ABSOLUTE.match(url))


def join(base: str, url: str) -> str:
    """``url`` under the ``base`` prefix; an absolute ``url`` wins."""
    if not base or is_absolute(url):
        return url
    if url.startswith("//"):  # protocol-relative: keep the base's scheme
        return f"{urlsplit(base).scheme}:{url}" if is_absolute(base) else url
    return base.rstrip("/") + "/" + url.lstrip("/") if url else base


def check_url(url: object, *, relative_ok: bool = False, field: str = "url") -> str:
    """``url`` if it can be sent, else ``InvalidRequestError`` naming what is wrong."""
    if not isinstance(url, str):
        raise InvalidRequestError(
            f"{field} must be a string, not {type(url).__name__}", field=field
        )
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None and len(url) <= MAX_URL_LENGTH:
        port = plain.group(1)
        if port is None or 0 < int(port) < 65536:
            return url
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequestError(
            f"{field} is longer than {MAX_URL_LENGTH} characters", field=field
        )
    if _BAD_URL_CHARS.search(url):
        raise InvalidRequestError(
            f"{field} {url[:200]!r} contains a space or control character", field=field
        )
    if not is_absolute(url):
        if relative_ok and url.startswith("/") and not url.startswith("//"):
            return url
        raise InvalidRequestError(
            f"{field} {url[:200]!r} is relative and there is no base URL to resolve it against",
            field=field,
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        raise InvalidRequestError(
            f"{field} {url[:200]!r} is malformed: {exc}", field=field
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidRequestError(
            f"{field} scheme {scheme!r} is not supported: use http or https", field=field
        )
    if not parts.hostname:
        raise InvalidRequestError(f"{field} {url[:200]!r} has no host", field=field)
    if port == 0:
        raise InvalidRequestError(f"{field} {url[:200]!r} has port 0", field=field)
    return url


def check_headers(headers: Headers) -> None:
    """Names must be HTTP tokens; values Latin-1 with no line breaks or NUL."""
    for name, value in headers.pairs():
        if not _TOKEN.match(name):
            raise InvalidRequestError(f"header name {name[:100]!r} is not valid", field="headers")
        if _GOOD_VALUE.fullmatch(value) is None:
            raise InvalidRequestError(
                f"header {name!r} value holds a line break, a NUL or a character outside "
                "Latin-1 (encode it, e.g. as UTF-8 percent-escapes)",
                field="headers",
            )
