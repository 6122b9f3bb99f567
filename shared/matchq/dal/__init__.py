"""Data access: the only modules that talk to AWS."""

import os

from botocore.exceptions import BotoCoreError, ClientError

# What an AWS service failure looks like to callers, who must not import botocore.
SERVICE_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)

# `sam local invoke` can only set variables the template declares; boto3 reads
# AWS_ENDPOINT_URL, so carry the declared one over before any client exists.
if os.environ.get("MATCHQ_AWS_ENDPOINT_URL") and not os.environ.get("AWS_ENDPOINT_URL"):
    os.environ["AWS_ENDPOINT_URL"] = os.environ["MATCHQ_AWS_ENDPOINT_URL"]
