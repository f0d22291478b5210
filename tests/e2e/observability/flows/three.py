"""Three steps in a row, triggered over HTTP; each step logs a line and adds one."""

import logging

from knflow import action, http_trigger, workflow

log = logging.getLogger("three")


@action
def add_one(value: int) -> int:
    """value + 1, saying so in the logs."""
    log.info("adding one to %d", value)
    print(f"printed {value}")
    return value + 1


@workflow(triggers=[http_trigger(path="/three", timeout="60s")])
def three(start: int = 0) -> object:
    """add_one three times."""
    value = start
    for index in range(3):
        value = add_one.named(f"s{index}")(value=value)
    return value
