"""Everything dispatch decides by, in one immutable value: the tree, the duties list, the SLA policy, the
escalation chain and the calendar. Rebuilt (not mutated) when an administrator edits the topology."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

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
    # route() and limits() answers by their arguments: pure functions of this immutable value, asked for every
    # new order (mostly the same few thousand arguments). A new policy (with_org, replace) starts empty.
    _answers: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

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
        key = ("route", category_code, *codes)
        if (answer := self._answers.get(key)) is None:
            answer = self._remember(key, route(self.categories.get(category_code) or category_code, codes, self.org,
                                               self.duties))
        return answer  # type: ignore[no-any-return]

    def limits(self, *, place: str, appeal_type: str, category_code: str, urgency: str) -> Limits:
        """The sign-for and handling limits for an order at `place`."""
        key = ("limits", place, appeal_type, category_code, urgency)
        if (answer := self._answers.get(key)) is None:
            answer = self._remember(key, self.sla.limits(areas=self.org.chain(place), appeal_type=appeal_type,
                                                         category_code=category_code, urgency=urgency))
        return answer  # type: ignore[no-any-return]

    def _remember(self, key: Any, answer: Any) -> Any:
        if len(self._answers) >= 20_000:  # a bound on memory: past it everything is worked out afresh
            self._answers.clear()
        self._answers[key] = answer
        return answer
