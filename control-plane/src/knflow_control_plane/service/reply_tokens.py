"""Bearer tokens of async reply mode: one attempt's right to report its result, until a time.

A token is ``{expires}.{sig}``: ``sig`` is the unpadded base64url HMAC-SHA256, under the control plane's
signing secret, of ``"knflow-reply/v1\\n" + attempt_id + "\\n" + expires``. The domain prefix keeps it
apart from the object URLs signed with the same secret (``adapters/objects/signing.py``): neither signature
can stand in for the other. Pure functions, no I/O: every replica that shares the secret can check a
token that another minted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ..errors import Forbidden, Unauthorized

_DOMAIN = "knflow-reply/v1"
MIN_SECRET_BYTES = 16


class ReplyTokenMissing(Unauthorized):
    """Reply token required.

    Attributes:
        fields: ``field`` (``authorization``).
    """


class ReplyTokenInvalid(Forbidden):
    """Reply token refused.

    Attributes:
        fields: ``field`` (``authorization``).
    """


def mint(secret: bytes, attempt_id: str, expires: int) -> str:
    """The token allowing the result of ``attempt_id`` to be posted until ``expires`` (Unix time).

    Raises:
        ValueError: the secret is shorter than 16 bytes.
    """
    return f"{expires}.{_sign(secret, attempt_id, expires)}"


def check(secret: bytes, attempt_id: str, authorization: str | None, now: float) -> None:
    """Check an ``Authorization: Bearer`` header against the attempt a callback names.

    Raises:
        ReplyTokenMissing: no bearer token.
        ReplyTokenInvalid: a malformed token, one for another attempt or under another secret (the
            signature does not match), or one past its expiry.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ReplyTokenMissing("the callback needs 'Authorization: Bearer <reply token>'", field="authorization")
    raw_expires, _, sig = token.strip().partition(".")
    # Plain digits only: int() would take "+5" or " 5", other spellings of one signed value.
    if not (raw_expires.isascii() and raw_expires.isdigit()) or not sig:
        raise ReplyTokenInvalid("the reply token is malformed", field="authorization")
    expires = int(raw_expires)
    # Constant time, and before the expiry: a forged expiry must read as tampering, not as expired.
    if not hmac.compare_digest(_sign(secret, attempt_id, expires).encode(), sig.encode("utf-8", "replace")):
        raise ReplyTokenInvalid("the reply token does not match this attempt", field="authorization")
    if now > expires:
        raise ReplyTokenInvalid(f"the reply token expired at {expires} (Unix time)", field="authorization")


def _sign(secret: bytes, attempt_id: str, expires: int) -> str:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the reply signing secret must be at least {MIN_SECRET_BYTES} bytes")
    message = f"{_DOMAIN}\n{attempt_id}\n{expires}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
