"""knflow_eventing's exception tree: one root, subclasses whose docstrings are their messages."""

from __future__ import annotations


class EventingError(Exception):
    """An eventing operation failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip().splitlines()[0])


class MalformedCloudEvent(EventingError, ValueError):
    """A message is not a valid CloudEvent 1.0.

    Attributes:
        attribute: the offending attribute (``specversion``, ``id``, ``source``, ``type``, ``data``, ...).
        reason: what is wrong with it.
        index: the event's position in a batch, when it came in one.
    """

    def __init__(self, *, attribute: str, reason: str, index: int | None = None) -> None:
        self.attribute = attribute
        self.reason = reason
        self.index = index
        where = f"event {index}: " if index is not None else ""
        super().__init__(f"{where}{attribute}: {reason}")


class BusUnavailable(EventingError):
    """The event bus could not be reached or refused the operation; retrying later may succeed.

    Attributes:
        operation: what was being done (``publish``, ``subscribe``, ``create topic``, ...).
        topic: the topic concerned, if any.
    """

    def __init__(self, message: str | None = None, *, operation: str, topic: str | None = None) -> None:
        self.operation = operation
        self.topic = topic
        super().__init__(message or f"event bus unavailable during {operation}" + (f" on {topic}" if topic else ""))


class BusClosed(EventingError):
    """The event bus (or this subscription) is closed."""
