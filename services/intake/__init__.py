"""mcc service."""
