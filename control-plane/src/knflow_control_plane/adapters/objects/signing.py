"""HMAC-SHA256 signed, expiring URLs for the objects the control plane serves itself (the ``local`` store).

A URL grants one method on one key until a time, optionally with a size limit and a content type:

    {base_url}/v1/objects/{key}?method=PUT&expires=1767225600&max_size=1048576&content_type=image%2Fpng&sig=...

``sig`` is the unpadded base64url HMAC-SHA256, under the control plane's secret, of the canonical string
``"knflow-object-url/v1\\n" + METHOD + "\\n" + key + "\\n" + expires + "\\n" + max_size + "\\n" + content_type``
(absent values empty). Every granted value is in it, so changing any of them (or the path) breaks the
signature; the signature is checked before the expiry, so a forged ``expires`` reads as tampering.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from ...ports.objects import UrlExpired, UrlInvalid

__all__ = ["MIN_SECRET_BYTES", "Grant", "object_url", "sign", "verify", "verify_query"]

MIN_SECRET_BYTES = 16
_DOMAIN = "knflow-object-url/v1"
_METHODS = frozenset({"GET", "PUT"})
_URL_SAFE = re.compile(r"[A-Za-z0-9._~/-]*")  # what quote(key, safe="/") leaves as is


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified URL allows.

    Attributes:
        method: ``GET`` or ``PUT``.
        key: the object key.
        expires: Unix time after which the URL is refused.
        max_size: largest accepted upload in bytes, or ``None``.
        content_type: the ``Content-Type`` an upload must send, or ``None``.
    """

    method: str
    key: str
    expires: int
    max_size: int | None = None
    content_type: str | None = None


def sign(
    secret: bytes, method: str, key: str, expires: int, max_size: int | None = None, content_type: str | None = None
) -> str:
    """The signature of one grant.

    Args:
        secret: the control plane's signing secret (at least 16 bytes).
        method: ``GET`` or ``PUT``.
        key: the object key (validated by the caller).
        expires: Unix time after which the URL is refused.
        max_size: the upload limit in bytes, if any.
        content_type: the required upload content type, if any.

    Raises:
        ValueError: the secret is too short, the method unknown, or a value could break the canonical form.
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the URL signing secret must be at least {MIN_SECRET_BYTES} bytes")
    if method not in _METHODS:
        raise ValueError(f"cannot sign method {method!r}: only GET and PUT")
    if content_type is not None and any(ord(ch) < 32 for ch in content_type):
        raise ValueError("content type has a control character")
    fields = (_DOMAIN, method, key, str(expires), _opt(max_size), content_type or "")
    digest = hmac.new(secret, "\n".join(fields).encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(secret: bytes, grant: Grant, sig: str, *, now: float | None = None) -> None:
    """Check that ``sig`` signs ``grant`` and that the grant has not expired.

    Args:
        secret: the signing secret.
        grant: what the URL claims to allow.
        sig: the signature from the URL.
        now: the current Unix time (tests pass their own).

    Raises:
        UrlInvalid: the signature does not match (tampered URL, or another secret).
        UrlExpired: the signature matches but the grant's time is over.
    """
    try:
        expected = sign(secret, grant.method, grant.key, grant.expires, grant.max_size, grant.content_type)
    except ValueError as exc:
        raise UrlInvalid(f"signed URL is malformed: {exc}") from exc
    # Constant time: a timing oracle would let a caller forge signatures byte by byte.
    if not hmac.compare_digest(expected.encode("ascii"), sig.encode("utf-8", "replace")):
        raise UrlInvalid("signed URL is invalid: its signature does not match", field="sig")
    if (time.time() if now is None else now) > grant.expires:
        raise UrlExpired(f"signed URL expired at {grant.expires} (Unix time)", field="expires")


def object_url(secret: bytes, base_url: str, grant: Grant) -> str:
    """The full signed URL for ``grant`` under ``base_url`` (``{base_url}/v1/objects/{key}?...``).

    Raises:
        ValueError: as for :func:`sign`.
    """
    # Built by hand: every value but the content type is URL-safe already (method, digits, base64url), and
    # urlencode() cost more than the HMAC (each attempt presigns several URLs on the hot path).
    sig = sign(secret, grant.method, grant.key, grant.expires, grant.max_size, grant.content_type)
    query = f"method={grant.method}&expires={grant.expires}"
    if grant.max_size is not None:
        query += f"&max_size={grant.max_size}"
    if grant.content_type is not None:
        query += f"&content_type={quote_plus(grant.content_type)}"
    path = grant.key if _URL_SAFE.fullmatch(grant.key) else quote(grant.key, safe="/")
    return f"{base_url.rstrip('/')}/v1/objects/{path}?{query}&sig={sig}"


def verify_query(secret: bytes, method: str, key: str, query: Mapping[str, str], *, now: float | None = None) -> Grant:
    """Verify the query string of a request for ``key`` made with ``method``; return what it grants.

    Args:
        secret: the signing secret.
        method: the request's HTTP method.
        key: the object key from the request path.
        query: the request's query parameters.
        now: the current Unix time (tests pass their own).

    Raises:
        UrlInvalid: a parameter is missing or malformed, the URL was signed for another method, or the
            signature does not match.
        UrlExpired: the URL is genuine but has expired.
    """
    signed_method = query.get("method", "")
    sig = query.get("sig")
    if sig is None or "expires" not in query:
        raise UrlInvalid("not a signed URL: 'expires' and 'sig' are required", field="sig")
    if signed_method != method:
        raise UrlInvalid(f"URL is signed for {signed_method or 'no method'}, not {method}", field="method")
    grant = Grant(
        method=method,
        key=key,
        expires=_int(query, "expires"),
        max_size=_int(query, "max_size") if "max_size" in query else None,
        content_type=query.get("content_type"),
    )
    verify(secret, grant, sig, now=now)
    return grant


def _opt(value: int | None) -> str:
    return "" if value is None else str(value)


def _int(query: Mapping[str, str], name: str) -> int:
    raw = query[name]
    # Only plain decimal digits: int() would also accept "+5", " 5" and "5_0", aliases of one signed value.
    if not raw.isascii() or not raw.isdigit():
        raise UrlInvalid(f"signed URL parameter {name!r} is not a whole number", field=name)
    return int(raw)
