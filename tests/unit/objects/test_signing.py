"""HMAC-signed object URLs: what they bind, when they expire, and how tampering shows."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from knflow_control_plane.adapters.objects.signing import Grant, object_url, sign, verify, verify_query
from knflow_control_plane.entrypoints.statuses import status_of
from knflow_control_plane.ports.objects import UrlExpired, UrlInvalid

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def test_url_round_trip() -> None:
    grant = Grant("PUT", "runs/r 1/out.png", int(NOW) + 60, max_size=1000, content_type="image/png")
    url = object_url(SECRET, "http://cp:8080/", grant)
    parts = urlsplit(url)
    assert parts.path == "/v1/objects/runs/r%201/out.png"
    key = unquote(parts.path.removeprefix("/v1/objects/"))
    assert verify_query(SECRET, "PUT", key, query_of(url), now=NOW) == grant


def test_expiry() -> None:
    grant = Grant("GET", "k", int(NOW) + 60)
    sig = sign(SECRET, "GET", "k", grant.expires)
    verify(SECRET, grant, sig, now=NOW + 60)  # still valid at the last second
    with pytest.raises(UrlExpired) as caught:
        verify(SECRET, grant, sig, now=NOW + 61)
    assert status_of(caught.value) == 403


@pytest.mark.parametrize(
    "changed",
    [
        Grant("PUT", "k", int(NOW) + 60),  # method
        Grant("GET", "k2", int(NOW) + 60),  # key
        Grant("GET", "k", int(NOW) + 3600),  # expiry pushed out
        Grant("GET", "k", int(NOW) + 60, max_size=10),  # size limit added
        Grant("GET", "k", int(NOW) + 60, content_type="text/html"),  # content type added
    ],
)
def test_every_granted_value_is_bound(changed: Grant) -> None:
    sig = sign(SECRET, "GET", "k", int(NOW) + 60)
    with pytest.raises(UrlInvalid) as caught:
        verify(SECRET, changed, sig, now=NOW)
    assert status_of(caught.value) == 403


def test_size_binding_distinguishes_limits() -> None:
    assert sign(SECRET, "PUT", "k", 1, max_size=10) != sign(SECRET, "PUT", "k", 1, max_size=100)
    assert sign(SECRET, "PUT", "k", 1, max_size=None) != sign(SECRET, "PUT", "k", 1, max_size=0)


def test_tampering_is_reported_before_expiry() -> None:
    sig = sign(SECRET, "GET", "k", int(NOW) - 10)
    with pytest.raises(UrlInvalid):  # a forged expiry is tampering, not an expired URL
        verify(SECRET, Grant("GET", "k", int(NOW) + 10**6), sig, now=NOW)
    with pytest.raises(UrlExpired):
        verify(SECRET, Grant("GET", "k", int(NOW) - 10), sig, now=NOW)


def test_another_secret_does_not_verify() -> None:
    grant = Grant("GET", "k", int(NOW) + 60)
    with pytest.raises(UrlInvalid):
        verify(b"another-secret-of-enough-bytes", grant, sign(SECRET, "GET", "k", grant.expires), now=NOW)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"method": "GET", "expires": "1"}, "sig"),
        ({"method": "GET", "sig": "x"}, "sig"),
        ({"method": "PUT", "expires": "1", "sig": "x"}, "method"),
        ({"method": "GET", "expires": "+5", "sig": "x"}, "expires"),
        ({"method": "GET", "expires": "1", "max_size": "1e3", "sig": "x"}, "max_size"),
        ({"method": "GET", "expires": "1", "sig": "ünïcode"}, "sig"),
    ],
)
def test_malformed_queries(query: dict[str, str], field: str) -> None:
    with pytest.raises(UrlInvalid) as caught:
        verify_query(SECRET, "GET", "k", query, now=NOW)
    assert caught.value.fields["field"] == field


def test_sign_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        sign(b"short", "GET", "k", 1)
    with pytest.raises(ValueError, match="only GET and PUT"):
        sign(SECRET, "DELETE", "k", 1)
    with pytest.raises(ValueError, match="control"):
        sign(SECRET, "PUT", "k", 1, content_type="text/plain\nx")
