"""Intake's pure domain: channel normalisation, place-name matching, the Open311 mapping. No I/O."""
