"""Hotline's use cases, one module each; their names are gathered here so the entrypoints call one module.

- `appeals.py`: CreateAppeal (a call becomes an appeal, its disposition and its events), in shared transactions
- `duplicates.py`: which existing orders a call may duplicate (重复件)
- `queries.py`: the operator's screen, an order's appeals, a caller's history
- `orders.py`: the order-event consumer (the appeal follows its order)
- `followups.py`: RecordFollowUp (回访)
- `articles.py`: the knowledge base's articles; `knowledge.py` its in-memory index
- `assist.py`: what the console asks while a call is under way (read-only)

Each use case is one unit of work (services/hotline/adapters/unit_of_work.py), whose repositories hold the SQL.
"""

from services.hotline.service.appeals import appeal_group_commit, create_appeal
from services.hotline.service.articles import (
    WriteArticle,
    create_article,
    delete_article,
    get_article,
    list_articles,
    search_articles,
    update_article,
)
from services.hotline.service.common import (
    STATUS_BY_DISPOSITION,
    CreateAppeal,
    Created,
    HotlineContext,
    RecordFollowUp,
    ScopeChoice,
)
from services.hotline.service.duplicates import CANDIDATE_SCAN_LIMIT, find_duplicates
from services.hotline.service.followups import record_followup
from services.hotline.service.orders import CONSUMER_ORDERS, handle_order_changed, handle_orders_changed
from services.hotline.service.queries import appeal_answer, caller_history, get_appeal, order_appeals

__all__ = [
    "CANDIDATE_SCAN_LIMIT", "CONSUMER_ORDERS", "STATUS_BY_DISPOSITION", "CreateAppeal", "Created", "HotlineContext",
    "RecordFollowUp", "ScopeChoice", "WriteArticle", "appeal_answer", "appeal_group_commit", "caller_history",
    "create_appeal", "create_article", "delete_article", "find_duplicates", "get_appeal", "get_article",
    "handle_order_changed", "handle_orders_changed", "list_articles", "order_appeals", "record_followup",
    "search_articles", "update_article",
]
