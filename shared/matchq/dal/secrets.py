"""Where the HS256 signing secret lives in the cloud: Secrets Manager or SSM Parameter Store."""

from __future__ import annotations

CACHE_SECONDS = 300


def load_secret(*, secret_arn: str | None, parameter_name: str | None) -> str | None:
    """The secret's value (cached for five minutes, so a rotation is picked up)."""
    # Imported here: Powertools' parameters import boto3, which the authorizer's cold
    # start need not pay for before its first token.
    from aws_lambda_powertools.utilities import parameters

    if secret_arn:
        return str(parameters.get_secret(secret_arn, max_age=CACHE_SECONDS))
    if parameter_name:
        return str(parameters.get_parameter(parameter_name, decrypt=True, max_age=CACHE_SECONDS))
    return None
