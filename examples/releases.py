"""One release at a time per environment: runs of the same ``env`` queue behind the one in progress.

Each release is built, then waits for a person's approval before it goes out. While a release to
``production`` waits, a second one to ``production`` is ``queued`` (``knflow get RUN`` shows its place);
a release to ``staging`` runs meanwhile: it is another key. Releases started by the HTTP trigger
(``POST /hooks/releases``) have priority 10: they go before releases queued from the CLI (priority 0).
At most two builds run at once, whatever the environment: a third waits as ``throttled``.

    knflow deploy examples/releases.py
    knflow run release_train -i service=api -i env=production --no-wait
    knflow run release_train -i service=web -i env=production --no-wait   # queued, position 1
    knflow runs --status queued
    knflow approve RUN go                                                  # the first ends, the next starts
"""

from knflow import Concurrency, action, approval, http_trigger, workflow


@action(max_concurrency=2)  # two builds at once across every release (the others: step status throttled)
def build(service: str, env: str) -> dict:
    """Build the service's artifact for ``env``."""
    return {"artifact": f"{service}-{env}.tar.gz"}


@action
def release(artifact: str, env: str) -> str:
    """Put the artifact live in ``env``."""
    return f"released {artifact} to {env}"


@workflow(
    concurrency=Concurrency(key="inputs.env", limit=1),
    triggers=[http_trigger(path="/releases", timeout=0, priority=10)],
)
def release_train(service: str, env: str):
    """Build, ask a person, release: one release per environment at a time."""
    built = build(service=service, env=env)
    approval(f"Release {service} to {env}?", name="go")
    return release(artifact=built["artifact"], env=env)
