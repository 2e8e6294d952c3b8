"""Versioned event contracts: the CloudEvents envelope, the data models and the catalog of subjects."""

from shared.events.catalog import EVENTS_BY_SUBJECT, EVENTS_BY_TYPE, STREAMS, EventSpec, StreamSpec
from shared.events.envelope import CloudEvent, RawCloudEvent, new_event_id, utcnow

__all__ = [
    "EVENTS_BY_SUBJECT",
    "EVENTS_BY_TYPE",
    "STREAMS",
    "CloudEvent",
    "EventSpec",
    "RawCloudEvent",
    "StreamSpec",
    "new_event_id",
    "utcnow",
]
