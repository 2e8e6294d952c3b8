"""What the hotline's use cases share: the context the composition root builds, and the commands.

Refusals are `shared.errors` (Invalid, NotFound, Conflict), raised where the rule is and answered by the app's
one handler (shared/http.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from services.hotline.adapters.category_words import load_words
from services.hotline.adapters.grid_client import GridClient
from services.hotline.domain import appeal as appeal_domain
from services.hotline.domain.duplicates import DuplicatePolicy
from services.hotline.domain.followup import FollowUpPolicy
from services.hotline.domain.scope import DEFAULT_RULES, ScopeRules
from services.hotline.domain.suggest import CategorySuggester
from services.hotline.service.knowledge import KnowledgeBase
from shared.categories import CategoryTable
from shared.events.v1 import AppealDisposition, AppealType, Coordinates, Urgency
from shared.orgchart import HeldChart
from shared.snapshots import Fixed

# Where an appeal stands before (or instead of) any order event.
STATUS_BY_DISPOSITION = {
    AppealDisposition.DISPATCHED: "accepted",
    AppealDisposition.ANSWERED: "closed",
    AppealDisposition.EMERGENCY: "transferred",
    AppealDisposition.OUT_OF_SCOPE: "refused",
    AppealDisposition.LINKED: "linked",
}
DISPOSITION = {
    appeal_domain.Disposition.DISPATCHED: AppealDisposition.DISPATCHED,
    appeal_domain.Disposition.ANSWERED_DIRECTLY: AppealDisposition.ANSWERED,
    appeal_domain.Disposition.EMERGENCY: AppealDisposition.EMERGENCY,
    appeal_domain.Disposition.OUT_OF_SCOPE: AppealDisposition.OUT_OF_SCOPE,
    appeal_domain.Disposition.LINKED: AppealDisposition.LINKED,
}


@dataclass
class HotlineContext:
    """Reference data and policies the use cases need; built once by the composition root."""

    categories: CategoryTable
    knowledge: KnowledgeBase
    scope_rules: ScopeRules = DEFAULT_RULES
    duplicates: DuplicatePolicy = field(default_factory=DuplicatePolicy)
    followups: FollowUpPolicy = field(default_factory=FollowUpPolicy)
    # Concurrent creates share one transaction (services.hotline.service.appeals.appeal_group_commit).
    appeal_writer: Any = None
    # The organisation tree the console names units and places addresses by (dispatch's, followed; None: codes).
    org: HeldChart | None = None

    @functools.cached_property
    def suggester(self) -> CategorySuggester:
        """The console's category suggester over this table and the shipped word list, built on first use."""
        return CategorySuggester.from_table(self.categories, load_words())

    @functools.cached_property
    def grid(self) -> GridClient:
        """Grid's lookup, at MCC_HOTLINE_GRID_URL (or where `mcc up` puts grid), for the console's preview."""
        return GridClient(org=self.org or Fixed(None))


@dataclass(frozen=True, kw_only=True)
class ScopeChoice:
    kind: str
    emergency_line: str | None = None
    rule: str | None = None
    reason: str | None = None
    channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class CreateAppeal:
    """Record the call an operator took (the command `appeals.create_appeal` carries out)."""

    caller_phone: str | None
    caller_name: str | None
    appeal_type: AppealType
    category_code: str
    description: str
    address: str | None
    coordinates: Coordinates | None
    urgency: Urgency | None
    confidential: bool
    anonymous: bool
    scope: ScopeChoice | None = None
    link_to_order: str | None = None
    answer_article_id: str | None = None
    answer_note: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordFollowUp:
    """Record the follow-up call (回访) made on an appeal's closed order."""

    appeal_ref: str
    reached: bool
    resolved: bool | None = None
    satisfaction: str | None = None
    unit_at_fault: bool | None = None
    comment: str | None = None
    operator: str
    operator_name: str | None = None
    operator_kind: str | None = None


@dataclass(frozen=True)
class Created:
    status_code: int
    body: dict[str, Any]
    replayed: bool
