"""mcc services: intake, dispatch, grid and hotline, each a FastAPI app with NATS consumers."""
