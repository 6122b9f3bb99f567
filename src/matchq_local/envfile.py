"""Writes env/local-env.json for `sam local invoke --env-vars` from template.yaml.

`sam local invoke` resolves a `Ref` to a resource as its logical id, so the functions would
look for a table named `JobsTable`. This file gives every function its environment as the
local stack resolves it: the local table, bucket and queue names, with queue URLs on the
embedded AWS endpoint as a Docker container reaches it (host.docker.internal:5001).
boto3 finds that endpoint through AWS_ENDPOINT_URL, which the template sets from its
`AwsEndpointUrl` parameter: pass `--parameter-overrides AwsEndpointUrl=...` as well
(docs/local-stack.md).

Usage: python -m matchq_local.envfile [--host host.docker.internal] [--port 5001] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from matchq_local.aws import DEFAULT_AWS_PORT
from matchq_local.template import ROOT, load_stack

DOCKER_HOST = "host.docker.internal"
OUT = ROOT / "env" / "local-env.json"


def env_document(host: str = DOCKER_HOST, port: int = DEFAULT_AWS_PORT) -> dict[str, Any]:
    """Each function's environment, by logical id, for an endpoint at host:port."""
    endpoint = f"http://{host}:{port}"
    stack = load_stack(endpoint, parameters={"AwsEndpointUrl": endpoint})
    return {
        logical_id: dict(sorted(spec.environment.items()))
        for logical_id, spec in sorted(stack.functions.items())
    }


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
