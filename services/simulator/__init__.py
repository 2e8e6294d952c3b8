"""`mcc simulate`: a seeded city day driven through the services' public doors, its checks and its report.

Layers: `scenario` and `generator` are pure (a scenario file and a seed in, a list of timed items out); `driver`
sends them over HTTP on schedule and plays the dispatchers; `checks` looks for losses; `report` writes HTML, CSV
and JSON; `stack` starts a private stack for policy replay and tests; `command` is the `mcc simulate` verb.
"""
