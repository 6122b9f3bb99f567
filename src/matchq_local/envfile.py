"""Writes env/local-env.json for `sam local invoke --env-vars` from template.yaml.

Every function's environment is resolved for the embedded AWS endpoint as a Docker
container reaches it (host.docker.internal:5001). SAM CLI overrides only variables the
template declares for the function (plus its own AWS_* set), so the endpoint travels in
MATCHQ_AWS_ENDPOINT_URL, which the template declares and `matchq.dal` hands to boto3.

Usage: python -m matchq_local.envfile [--host host.docker.internal] [--port 5001] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from matchq_local.aws import DEFAULT_AWS_PORT
from matchq_local.template import REGION, ROOT, load_stack

DOCKER_HOST = "host.docker.internal"
OUT = ROOT / "env" / "local-env.json"


def env_document(host: str = DOCKER_HOST, port: int = DEFAULT_AWS_PORT) -> dict[str, Any]:
    endpoint = f"http://{host}:{port}"
    stack = load_stack(endpoint)
    document: dict[str, Any] = {
        "Parameters": {
            "MATCHQ_AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    }
    for logical_id, spec in sorted(stack.functions.items()):
        environment = {**spec.environment, "MATCHQ_AWS_ENDPOINT_URL": endpoint}
        document[logical_id] = dict(sorted(environment.items()))
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=DOCKER_HOST, help="host name of the AWS endpoint")
    parser.add_argument("--port", type=int, default=DEFAULT_AWS_PORT, help="AWS endpoint port")
    parser.add_argument("--out", type=Path, default=OUT, help="file to write")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(env_document(args.host, args.port), indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
