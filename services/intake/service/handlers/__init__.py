"""Intake's service layer: the one door. Normalise, validate, locate, publish (or hold, or reject). One module per
use case; everything is re-exported here so callers keep using `handlers.<name>`."""

from services.intake.service.handlers.common import (
    API_KEYS,
    CONSUMER_ORDERS,
    CONSUMER_REPORTED,
    MAX_QUEUE,
    AddressMatcher,
    Locator,
    Reference,
)
from services.intake.service.handlers.detections import SubmitDetection, submit_detection
from services.intake.service.handlers.georeport import (
    create_open311_request,
    open311_request,
    open311_requests,
    open311_service,
    open311_services,
    open311_token,
)
from services.intake.service.handlers.incidents import (
    get_incident,
    handle_incident_reported,
    handle_incidents_reported,
    locate,
)
from services.intake.service.handlers.orders import handle_order_changed, handle_orders_changed
from services.intake.service.handlers.review import approve_held, list_incidents, reject_held

__all__ = [
    "API_KEYS", "CONSUMER_ORDERS", "CONSUMER_REPORTED", "MAX_QUEUE", "AddressMatcher", "SubmitDetection",
    "Locator", "Reference", "approve_held", "create_open311_request", "get_incident",
    "handle_incident_reported", "handle_incidents_reported", "handle_order_changed", "handle_orders_changed",
    "list_incidents", "locate", "open311_request", "open311_requests", "open311_service", "open311_services",
    "open311_token", "reject_held", "submit_detection",
]
