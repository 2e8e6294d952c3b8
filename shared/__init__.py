"""The library every mcc service uses: settings, event contracts, messaging, database, Redis, metrics, logging."""
