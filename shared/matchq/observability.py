"""One Logger, Tracer and Metrics for the whole package, configured by POWERTOOLS_* variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="matchq")
tracer = Tracer(service="matchq")
metrics = Metrics(namespace="matchq", service="matchq")
