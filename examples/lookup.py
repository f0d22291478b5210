"""An HTTP workflow whose action raises ActionError(404): the HTTP reply is that 404.

curl -i -X POST localhost:8080/hooks/users -d '{"user": "nobody"}'
"""

from knflow import ActionError, action, http_trigger, workflow

USERS = {"ada": {"name": "Ada Lovelace", "born": 1815}, "alan": {"name": "Alan Turing", "born": 1912}}


@action
def lookup(user: str) -> dict:
    """The profile of a known user."""
    if user not in USERS:
        raise ActionError(code=404, message=f"user {user} not found")
    return {"profile": USERS[user]}


@workflow(triggers=[http_trigger(path="/users", method="POST", timeout="10s")])
def users(user: str):
    """Look a user up."""
    return lookup(user=user)["profile"]
