"""The hotline's pure domain: privacy, appeals, scope, knowledge base, duplicates, follow-up. No I/O."""
