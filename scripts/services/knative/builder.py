"""The build Job's program in the test cluster, in place of Kaniko's executor (whose sources are not
served here): it takes the executor's arguments, reads the same build context from S3, and builds the
same image the same way for what knflow's Dockerfile does without ``RUN``: the code under ``code/``
copied onto the ``FROM`` image at ``/app`` (``crane append``), pushed to ``--destination``, its digest
written to ``--digest-file`` (the pod's termination message). A ``RUN`` step (an action's requirements)
fails the build, saying so. Standard library only; crane lies beside it.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

CRANE = str(Path(__file__).with_name("crane"))
UID = 65532


def _args(argv: list[str]) -> dict[str, str]:
    return {k.removeprefix("--"): v for k, _, v in (a.partition("=") for a in argv if a.startswith("--"))}


def _context(url: str) -> bytes:
    bucket_key = url.removeprefix("s3://")
    endpoint = os.environ.get("S3_ENDPOINT", "").rstrip("/")
    print(f"reading the context {url} from {endpoint}", flush=True)
    # The test cluster's S3 is moto, which reads who asks from the Authorization header but does not check
    # its signature: an unsigned request is anonymous (403 on a private bucket).
    key_id = os.environ.get("AWS_ACCESS_KEY_ID", "test")
    region = os.environ.get("AWS_REGION", "us-east-1")
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    headers = {
        "x-amz-date": date,
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/{date[:8]}/{region}/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "0" * 64,
    }
    request = urllib.request.Request(f"{endpoint}/{bucket_key}", headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310
        return bytes(reply.read())


def _plan(dockerfile: str) -> str:
    """The FROM image of knflow's Dockerfile; a RUN step is refused."""
    base = ""
    for line in dockerfile.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "FROM":
            base = rest.strip()
        elif word == "RUN":
            raise SystemExit(f"error building image: this test builder cannot run {line.strip()!r} (Kaniko can)")
    if not base:
        raise SystemExit("error building image: the Dockerfile has no FROM")
    return base


def _code_layer(context: tarfile.TarFile, out: Path) -> None:
    with tarfile.open(out, "w") as layer:
        for member in context.getmembers():
            if not member.name.startswith("code/") or not member.isfile():
                continue
            data = context.extractfile(member)
            info = tarfile.TarInfo("app/" + member.name.removeprefix("code/"))
            info.size, info.mode, info.uid, info.gid = member.size, 0o644, UID, UID
            layer.addfile(info, data)


def main(argv: list[str]) -> None:
    """Build ``--context`` into ``--destination`` and write the digest to ``--digest-file``."""
    args = _args(argv)
    blob = _context(args["context"])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as context:
        member = context.extractfile("Dockerfile")
        if member is None:
            raise SystemExit("error building image: no Dockerfile in the context")
        dockerfile = member.read().decode()
        print(dockerfile, flush=True)
        base = _plan(dockerfile)
        with tempfile.TemporaryDirectory() as work:
            layer = Path(work) / "code.tar"
            _code_layer(context, layer)
            destination = args["destination"]
            print(f"appending the code onto {base} as {destination}", flush=True)
            subprocess.run([CRANE, "append", "--insecure", "-b", base, "-f", str(layer), "-t", destination], check=True)
    digest = subprocess.run(
        [CRANE, "digest", "--insecure", destination], check=True, capture_output=True, text=True
    ).stdout.strip()
    print(f"pushed {destination}@{digest}", flush=True)
    Path(args.get("digest-file", "/dev/termination-log")).write_text(digest)


if __name__ == "__main__":
    main(sys.argv[1:])
