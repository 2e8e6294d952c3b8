"""The lifecycle's refusals; each says which HTTP answer fits."""

from __future__ import annotations

from collections.abc import Sequence

from services.dispatch.domain.lifecycle.table import (
    Action,
)
from shared.events.v1 import OrderState  # the contract's vocabulary: consumers read the same names


class LifecycleError(Exception):
    """Base of the lifecycle's refusals; each subclass says which HTTP answer fits."""


class OrderNotVisible(LifecycleError):
    """The order lies outside the actor's scope: answer 404, as if it did not exist."""


class NotPermitted(LifecycleError):
    """The actor's role, or its relation to the holder, does not allow this (403)."""


class ForbiddenTransition(LifecycleError):
    """The action is not possible in the current state (409 with the state and the allowed actions)."""

    def __init__(self, current_state: OrderState, allowed_actions: Sequence[Action], message: str | None = None,
                 *, allowed_for_actor: Sequence[Action] | None = None) -> None:
        self.current_state = current_state
        self.allowed_actions = tuple(allowed_actions)
        self.allowed_for_actor = tuple(allowed_for_actor) if allowed_for_actor is not None else None
        super().__init__(message or f"not allowed in state {current_state.value}; allowed: "
                                    f"{', '.join(a.value for a in self.allowed_actions) or 'none'}")


class RuleViolated(ForbiddenTransition):
    """The table allows the action here, but a rule refuses it now (window passed, nothing pending...)."""


class InvalidCommand(LifecycleError, ValueError):
    """The action lacks an input it needs, or names a wrong one (422)."""
