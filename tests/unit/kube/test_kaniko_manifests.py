"""Rendering Kaniko build contexts and Jobs, and reading their outcome: pure functions."""

from __future__ import annotations

import gzip
import io
import tarfile
from typing import Any

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.knative.kaniko_manifests import (
    KanikoOptions,
    build_context,
    digest_of,
    dockerfile,
    image_repository,
    job_name,
    job_state,
    render_job,
    termination,
)

BASE = "reg.local/knflow-runtime:1"


def spec(**options: Any) -> ActionSpec:
    return ActionSpec(name="Resize_Img", version="abc123", entrypoint="pipeline:resize", options=options)


def test_context_holds_dockerfile_requirements_and_code_and_is_reproducible() -> None:
    action = spec(requirements=["pillow>=10"])
    files = {"pipeline.py": b"def resize(): ...\n", "lib/util.py": b"X = 1\n"}
    blob = build_context(action, files, BASE)
    assert blob == build_context(action, dict(reversed(files.items())), BASE)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        names = tar.getnames()
        assert names == sorted(names)
        assert set(names) == {"Dockerfile", "requirements.txt", "code/pipeline.py", "code/lib/util.py"}
        assert {m.mtime for m in tar.getmembers()} == {0}
        requirements = tar.extractfile("requirements.txt")
        assert requirements is not None and requirements.read() == b"pillow>=10\n"


def test_dockerfile_installs_requirements_before_the_code_and_runs_as_non_root() -> None:
    text = dockerfile(spec(requirements=["pillow>=10"]), BASE)
    lines = text.splitlines()
    assert lines[1] == f"FROM {BASE}"
    assert text.index("pip install") < text.index("COPY code/ /app/")
    assert "USER 65532:65532" in lines
    assert "pip" not in dockerfile(spec(), BASE)


def test_job_runs_the_executor_with_context_destination_cache_and_digest_file() -> None:
    options = KanikoOptions(
        namespace="fns",
        registry="reg.local/knflow",
        registry_secret="push",
        s3_secret="s3",
        s3_endpoint="http://minio:9000",
        insecure_registry=True,
    )
    job = render_job(spec(), "s3://bucket/builds/ctx.tar.gz", options)
    assert job["metadata"]["name"] == job_name("Resize_Img", "abc123")
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    args = container["args"]
    assert "--context=s3://bucket/builds/ctx.tar.gz" in args
    assert f"--destination={image_repository('reg.local/knflow', 'Resize_Img')}:abc123" in args
    assert "--destination=reg.local/knflow/resize-img:abc123" in args
    assert {"--cache=true", "--cache-repo=reg.local/knflow/cache", "--digest-file=/dev/termination-log"} <= set(args)
    assert "--insecure" in args
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["S3_ENDPOINT"] == "http://minio:9000" and env["S3_FORCE_PATH_STYLE"] == "true"
    assert container["envFrom"] == [{"secretRef": {"name": "s3"}}]
    assert pod["volumes"][0]["secret"]["secretName"] == "push"
    assert container["volumeMounts"][0]["mountPath"] == "/kaniko/.docker"


def test_job_state_and_termination_message() -> None:
    assert not job_state({"status": {}}).finished
    done = job_state({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})
    assert done.finished and done.succeeded
    failed = job_state(
        {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    )
    assert failed.finished and not failed.succeeded and failed.reason == "BackoffLimitExceeded"
    digest = "sha256:" + "ab" * 32
    pod = {
        "status": {
            "containerStatuses": [{"name": "kaniko", "state": {"terminated": {"exitCode": 0, "message": digest}}}]
        }
    }
    assert termination(pod) == (0, digest)
    assert termination({"status": {}}) == (None, "")
    assert digest_of(digest + "\n") == digest
    assert digest_of("error building image") is None
    assert digest_of("sha256:xyz") is None
