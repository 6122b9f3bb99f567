"""The asyncio client: the one hand-written source of both clients."""
