"""REQUEST authorizer: verifies the bearer JWT and names the caller for the API functions."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from matchq.auth import authorize, default_verifier
from matchq.observability import logger

default_verifier()  # settings and key source are read at start: a bad one fails the cold start


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = authorize(event, default_verifier())
    if answer["policyDocument"]["Statement"][0]["Effect"] == "Deny":
        logger.info("token rejected", extra={"details": answer["context"]["details"]})
    return answer
