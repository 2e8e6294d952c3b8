"""Dispatch's service layer: each use case is one transaction that changes an order through the domain's
state machine and writes, with it, one audit row and one outbox event per transition. One module per use
case; everything is re-exported here so callers keep using `handlers.<name>`."""

from services.dispatch.service.handlers.actions import (
    ActionTaken,
    TakeAction,
    handle_appeal_disposed,
    handle_appeals_disposed,
    handle_follow_up,
    take_action,
)
from services.dispatch.service.handlers.attachments import order_attachment, upload_attachment
from services.dispatch.service.handlers.common import (
    AUDIT_TABLE,
    CONSUMER_DISPOSITIONS,
    CONSUMER_FOLLOWUPS,
    CONSUMER_INCIDENTS,
    ORDER_TABLE,
    TOPOLOGY_COUNTER,
    PolicyHolder,
    apply_decision,
    count,
    order_changed,
    record_transition,
)
from services.dispatch.service.handlers.export import EXPORT_LIMIT, export_orders
from services.dispatch.service.handlers.rates import TIER_KINDS, handling_rates, list_alerts
from services.dispatch.service.handlers.reading import (
    QueueFilter,
    Search,
    access_log,
    list_orders,
    prune_access_log,
    read_order,
)
from services.dispatch.service.handlers.routing import handle_incident_accepted, handle_incidents_accepted
from services.dispatch.service.handlers.timers import (
    fire_due_timers,
    refresh_gauges,
    reschedule_all,
    reschedule_if_policy_changed,
)
from services.dispatch.service.handlers.topology import (
    delete_unit,
    edit_units,
    load_org,
    remove_unit,
    replace_topology,
    replace_units,
)

__all__ = [
    "AUDIT_TABLE", "CONSUMER_DISPOSITIONS", "CONSUMER_FOLLOWUPS", "CONSUMER_INCIDENTS", "ORDER_TABLE",
    "EXPORT_LIMIT", "TIER_KINDS", "TOPOLOGY_COUNTER", "ActionTaken", "TakeAction", "PolicyHolder", "QueueFilter", "Search", "access_log", "export_orders", "order_attachment", "upload_attachment",
    "apply_decision", "count", "delete_unit", "edit_units", "remove_unit", "replace_topology", "fire_due_timers", "handle_appeal_disposed", "handle_appeals_disposed", "handle_follow_up",
    "handle_incident_accepted", "handle_incidents_accepted", "handling_rates", "list_alerts", "list_orders",
    "load_org", "order_changed", "prune_access_log", "read_order", "record_transition", "refresh_gauges",
    "replace_units", "reschedule_all", "reschedule_if_policy_changed", "take_action",
]
