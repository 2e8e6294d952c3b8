"""The lifecycle's refusals. Each is also the shared.errors problem it answers as (404, 403, 409, 422), so a
handler lets it through and shared/http.py answers it in the documented shape: no route catches them."""

from __future__ import annotations

from collections.abc import Sequence

from services.dispatch.domain.lifecycle.table import (
    Action,
)
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.events.v1 import OrderState  # the contract's vocabulary: consumers read the same names


class LifecycleError(Exception):
    """Base of the lifecycle's refusals; each subclass says which HTTP answer fits."""


class OrderNotVisible(LifecycleError, NotFound):
    """The order lies outside the actor's scope: answer 404, as if it did not exist."""


class NotPermitted(LifecycleError, Forbidden):
    """The actor's role, or its relation to the holder, does not allow this (403)."""


class ForbiddenTransition(LifecycleError, Conflict):
    """The action is not possible in the current state (409 with the state and the allowed actions: only those
    of the caller when known, since the state may allow more to other roles or units)."""

    code = "invalid_transition"

    def __init__(self, current_state: OrderState, allowed_actions: Sequence[Action], message: str | None = None,
                 *, allowed_for_actor: Sequence[Action] | None = None) -> None:
        self.allowed_actions = tuple(allowed_actions)
        self.allowed_for_actor = tuple(allowed_for_actor) if allowed_for_actor is not None else None
        shown = self.allowed_for_actor if self.allowed_for_actor is not None else self.allowed_actions
        Conflict.__init__(self, message or f"not allowed in state {current_state.value}; allowed: "
                                           f"{', '.join(a.value for a in self.allowed_actions) or 'none'}",
                          allowed=[a.value for a in shown])
        self.current_state = current_state  # after Conflict.__init__, which sets it to None


class RuleViolated(ForbiddenTransition):
    """The table allows the action here, but a rule refuses it now (window passed, nothing pending...)."""

    code = "rule_violated"


class InvalidCommand(LifecycleError, Invalid, ValueError):
    """The action lacks an input it needs, or names a wrong one (422, on the body as a whole)."""

    def __init__(self, message: str) -> None:
        Invalid.__init__(self, "body", message, type="invalid_command")
        self.message = message
