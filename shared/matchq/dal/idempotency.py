"""Idempotency records of `POST /jobs/submit`: Powertools' idempotency utility on DynamoDB.

The record's key is a hash of (user, Idempotency-Key), so one user's key never meets
another's; the request body's hash is kept with it (payload validation), so the same key
with another body is told apart. Records expire after `ttl_seconds` (DynamoDB TTL on
`expiration`). Powertools writes an in-progress record first (a conditional put: of
concurrent duplicates one wins), stores the answer when the submit returns and deletes
the record when it raises, so a refused submit can be retried with the same key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from matchq.errors import IdempotencyConflict, ServiceUnavailable

TTL_SECONDS = 24 * 3600
WAIT_SECONDS = 10.0  # how long a duplicate waits for the first submit's answer
POLL_SECONDS = 0.1


class IdempotentSubmits:
    """Run a submit once per (user, key) within TTL_SECONDS."""

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        import boto3

        # one client, made here: Powertools would make its own lazily
        self.persistence = DynamoDBPersistenceLayer(
            table_name=table_name, boto3_client=client or boto3.client("dynamodb")
        )
        self.config = IdempotencyConfig(
            event_key_jmespath="[user, key]",
            payload_validation_jmespath="body",
            expires_after_seconds=TTL_SECONDS,
            raise_on_no_idempotency_key=True,
        )

        @idempotent_function(
            data_keyword_argument="request", persistence_store=self.persistence, config=self.config
        )
        def submit_once(request: dict[str, Any], submit: Callable[[], str]) -> dict[str, str]:
            return {"job_id": submit()}

        self._submit_once = submit_once

    def once(
        self,
        user: str,
        key: str,
        body: dict[str, Any],
        submit: Callable[[], str],
        context: Any | None = None,
    ) -> str:
        """The job id of the first submit with this user and key: `submit()`'s, or the one
        recorded. IdempotencyConflict when the key was used with another body."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            # in-progress records then expire with the invocation, not after 24 hours
            self.config.register_lambda_context(context)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                answer = self._submit_once(
                    request={"user": user, "key": key, "body": body}, submit=submit
                )
            except IdempotencyValidationError:
                raise IdempotencyConflict(
                    "Idempotency-Key was already used with a different request body"
                ) from None
            except IdempotencyAlreadyInProgressError:
                # a concurrent duplicate: its answer comes within a submit's time
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable(
                        "A submit with this Idempotency-Key is still in progress; please retry"
                    ) from None
                time.sleep(POLL_SECONDS)
                continue
            return str(answer["job_id"])
