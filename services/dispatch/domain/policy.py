"""Everything dispatch decides by, in one immutable value: the tree, the duties list, the SLA policy, the
escalation chain and the calendar. Rebuilt (not mutated) when an administrator edits the topology."""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.dispatch.domain.duties import DutiesList, Routing, route
from services.dispatch.domain.escalation import EscalationChain
from services.dispatch.domain.org import OrgTree
from services.dispatch.domain.sla import Limits, SlaPolicy, WorkCalendar
from services.dispatch.domain.timers import TimerPolicy
from shared.categories import CategoryTable


@dataclass(frozen=True)
class DispatchPolicy:
    org: OrgTree
    duties: DutiesList
    sla: SlaPolicy
    chain: EscalationChain
    calendar: WorkCalendar
    categories: CategoryTable

    @property
    def timer(self) -> TimerPolicy:
        return TimerPolicy(self.org, self.chain, self.calendar, self.sla.settings)

    def with_org(self, org: OrgTree) -> DispatchPolicy:
        return replace(self, org=org)

    def place(self, *codes: str | None) -> str:
        """The most precise known place among location codes (village, town, county), else the city."""
        for code in codes:
            if code and code in self.org:
                return code
        return self.org.city_code

    def route(self, category_code: str, *codes: str | None) -> Routing:
        """The owning unit or queue for a category at a location (codes most precise first)."""
        return route(self.categories.get(category_code) or category_code, codes, self.org, self.duties)

    def limits(self, *, place: str, appeal_type: str, category_code: str, urgency: str) -> Limits:
        """The sign-for and handling limits for an order at `place`."""
        return self.sla.limits(areas=self.org.chain(place), appeal_type=appeal_type,
                               category_code=category_code, urgency=urgency)
