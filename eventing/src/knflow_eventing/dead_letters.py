"""Dead letters, the same on both buses: the headers a parked message carries, and a letter read back."""

from __future__ import annotations

from cloudevents.core.bindings.kafka import KafkaMessage

from .ports import DeadLetter

DLQ_REASON_HEADER = "knflow_dlq_reason"


def dead_letter(message: KafkaMessage) -> DeadLetter:
    """A parked message as listed: where it came from and why, read from the headers :func:`dlq_headers` wrote."""
    headers = message.headers
    key = message.key.decode() if isinstance(message.key, bytes) else message.key
    return DeadLetter(
        topic=headers.get("knflow_dlq_topic", b"").decode(),
        partition=int(headers.get("knflow_dlq_partition", b"-1")),
        offset=int(headers.get("knflow_dlq_offset", b"-1")),
        key=key,
        headers=headers,
        value=message.value,
        reason=headers.get(DLQ_REASON_HEADER, b"").decode(),
    )


def dlq_headers(
    message_headers: dict[str, bytes], reason: str, topic: str, partition: int, offset: int
) -> dict[str, bytes]:
    """The original headers plus where the message came from and why it was parked."""
    return {
        **message_headers,
        DLQ_REASON_HEADER: reason.encode(),
        "knflow_dlq_topic": topic.encode(),
        "knflow_dlq_partition": str(partition).encode(),
        "knflow_dlq_offset": str(offset).encode(),
    }
