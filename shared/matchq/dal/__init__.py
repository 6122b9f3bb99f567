"""Data access: the only modules that talk to AWS."""

from botocore.exceptions import BotoCoreError, ClientError

# What an AWS service failure looks like to callers, who must not import botocore.
SERVICE_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
