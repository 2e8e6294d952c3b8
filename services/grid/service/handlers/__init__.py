"""Grid's use cases, one module per feature; `handlers.<name>` reaches each public one.

registry (import, export, lookup index) · keys (integration keys) · photos · reporting (上报, 就地解决, batches,
group commit) · events (resolve, escalate, changes) · projection (order events) · patrols · webhooks.
"""

from services.grid.service.handlers.common import CHANGE_COUNTER, CONSUMER_ORDERS, REGISTRY_COUNTER, Index
from services.grid.service.handlers.events import (
    changes_since,
    escalate_event,
    get_event,
    outcome_counts,
    resolve_event,
)
from services.grid.service.handlers.keys import issue_key, list_keys, revoke_key
from services.grid.service.handlers.patrols import (
    add_patrol_points,
    end_patrol,
    patrol_coverage,
    start_patrol,
)
from services.grid.service.handlers.photos import photo_file, store_photo
from services.grid.service.handlers.projection import handle_order_changed, handle_orders_changed
from services.grid.service.handlers.registry import (
    IndexHolder,
    build_index,
    export_grids,
    get_grid,
    import_grids,
    list_grids,
    prepare_registry,
    refresh_index,
    registry_version,
)
from services.grid.service.handlers.reporting import (
    ReportGridEvent,
    event_group_commit,
    report_batch,
    report_event,
)
from services.grid.service.handlers.views import event_view
from services.grid.service.handlers.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    deliver_webhooks,
    remove_webhook,
    set_webhook,
    sign,
)

__all__ = [
    "CHANGE_COUNTER", "CONSUMER_ORDERS", "REGISTRY_COUNTER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "Index",
    "IndexHolder", "ReportGridEvent", "add_patrol_points", "build_index", "changes_since",
    "deliver_webhooks", "end_patrol", "escalate_event", "event_group_commit", "event_view", "export_grids",
    "get_event", "get_grid", "handle_order_changed", "handle_orders_changed", "import_grids", "issue_key", "list_grids", "list_keys",
    "outcome_counts", "patrol_coverage", "photo_file", "prepare_registry", "refresh_index", "registry_version", "remove_webhook",
    "report_batch", "report_event", "resolve_event", "revoke_key", "set_webhook", "sign", "start_patrol",
    "store_photo",
]
