"""Domain services, wired to AWS by `matchq.services.wiring`."""
