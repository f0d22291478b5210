"""knflow eventing: the ``EventBus`` port and its memory and Kafka adapters, CloudEvent codecs,
event-trigger matching and cron ticks.

``KafkaBus`` is imported from :mod:`knflow_eventing.kafka` (it needs the ``kafka`` extra).
"""

from .codecs import (
    BATCH_CONTENT_TYPE,
    STRUCTURED_CONTENT_TYPE,
    decode_kafka,
    encode_kafka,
    make_event,
    parse_http,
    to_http_binary,
    to_json,
)
from .errors import BusClosed, BusUnavailable, EventingError, MalformedCloudEvent
from .matching import inputs_from_event, matching_triggers, trigger_matches
from .memory import MemoryBus, MemorySubscription
from .ports import RUNS_TOPIC, TRIGGERS_TOPIC, DeadLetter, Delivery, EventBus, Subscription, dlq_topic
from .schedule import MissedPolicy, Tick, due_ticks, next_tick

__all__ = [
    "BATCH_CONTENT_TYPE",
    "RUNS_TOPIC",
    "STRUCTURED_CONTENT_TYPE",
    "TRIGGERS_TOPIC",
    "BusClosed",
    "BusUnavailable",
    "DeadLetter",
    "Delivery",
    "EventBus",
    "EventingError",
    "MalformedCloudEvent",
    "MemoryBus",
    "MemorySubscription",
    "MissedPolicy",
    "Subscription",
    "Tick",
    "decode_kafka",
    "dlq_topic",
    "due_ticks",
    "encode_kafka",
    "inputs_from_event",
    "make_event",
    "matching_triggers",
    "next_tick",
    "parse_http",
    "to_http_binary",
    "to_json",
    "trigger_matches",
]
