"""Dispatch's pure domain: the org tree, the duties list and routing, the lifecycle state machine, time
limits and escalation. No I/O here: reference data arrives already parsed (see shared/reference)."""
