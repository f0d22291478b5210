"""A signed upload URL is one upload: used again (to overwrite a finished run's output, say) it is refused,
and what was stored stays as it was recorded."""

from __future__ import annotations

import hashlib

import httpx

from knflow_control_plane.adapters.objects.local import LocalObjectStore


async def test_a_signed_put_url_uploads_once(local_store: LocalObjectStore) -> None:
    url = await local_store.presign_put("runs/r1/s/1/out.bin", 60, max_size=1024)
    async with httpx.AsyncClient() as http:
        first = await http.put(url, content=b"the output")
        assert first.status_code == 200, first.text
        again = await http.put(url, content=b"an overwrite")
        assert again.status_code == 409, again.text
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["field"] == "url"
    info = await local_store.info("runs/r1/s/1/out.bin")
    assert info.size == len(b"the output") and info.sha256 == hashlib.sha256(b"the output").hexdigest()
    async for chunk in await local_store.get("runs/r1/s/1/out.bin"):
        assert chunk == b"the output"
