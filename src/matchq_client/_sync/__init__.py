"""The synchronous client, generated from `matchq_client._async` by scripts/unasync.py."""
