"""`template.yaml`, after the SAM transform, as the local stack and the tests see it.

The local stack never restates a resource: table, queues, bucket, routes, authorizer,
function handlers and environment all come from here, so local and cloud cannot drift.
It evaluates only the intrinsic functions and API features the template uses; anything
else fails loudly with `UnsupportedTemplate` instead of being served differently from
API Gateway (see docs/local-stack.md).
"""

from __future__ import annotations

import copy
import logging
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "matchq-local"

# The resource types the local stack reads; the others (roles, alarms, log groups, ...)
# have no local counterpart and are never evaluated.
LOCAL_TYPES = {
    "AWS::Lambda::Function",
    "AWS::ApiGateway::RestApi",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Events::Rule",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
}


class UnsupportedTemplate(ValueError):
    """The template uses something the local stack does not serve as AWS would."""


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: where its code is and how it is configured."""

    logical_id: str
    code_dir: Path
    handler: str
    timeout: int
    memory_mb: int
    environment: dict[str, str]


@dataclass(frozen=True)
class Route:
    method: str  # upper case, e.g. GET
    path: str  # template path, e.g. /api/v1/jobs/{job_id}
    function: str  # logical id of the function
    authorizer: str | None


@dataclass(frozen=True)
class AuthorizerSpec:
    """A REQUEST authorizer without identity sources or result cache (the template's kind)."""

    name: str
    function: str


@dataclass(frozen=True)
class EventSource:
    function: str
    queue: str  # logical id
    batch_size: int
    report_batch_item_failures: bool


@dataclass
class LocalStack:
    """Everything the local stack needs from the template, resolved for this machine."""

    resources: dict[str, dict[str, Any]]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    authorizers: dict[str, AuthorizerSpec] = field(default_factory=dict)
    gateway_responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    event_sources: list[EventSource] = field(default_factory=list)
    schedules: dict[str, str] = field(default_factory=dict)  # function -> expression
    cors: dict[str, str] = field(default_factory=dict)

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def physical_name(logical_id: str) -> str:
    """The local name of a resource: stable, lower case, valid for S3, SQS and DynamoDB."""
    return f"{STACK}-{logical_id}".lower()


def queue_url(logical_id: str, endpoint: str) -> str:
    return f"{endpoint.rstrip('/')}/{ACCOUNT}/{physical_name(logical_id)}"


def parse_template(text: str) -> dict[str, Any]:
    """YAML with CloudFormation's short tags (`!Ref`), as samtranslator reads it, with libyaml."""
    import yaml
    from samtranslator.yaml_helper import intrinsics_multi_constructor

    class Loader(yaml.CSafeLoader):
        pass

    Loader.add_multi_constructor("!", intrinsics_multi_constructor)
    return yaml.load(text, Loader=Loader)  # noqa: S506 (a safe loader with CloudFormation tags)


@cache
def transformed_template(path: Path = TEMPLATE) -> tuple[dict[str, Any], dict[str, Path]]:
    """The CloudFormation template SAM deploys, and each function's code folder."""
    from samtranslator.translator.transform import transform

    template = parse_template(path.read_text(encoding="utf-8"))
    code_dirs: dict[str, Path] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            code_dirs[logical_id] = (path.parent / props["CodeUri"]).resolve()
            props["CodeUri"] = f"s3://local/{logical_id}"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://local/{logical_id}"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK}
    return transform(template, pseudo, _NoManagedPolicies()), code_dirs


class _Remove:
    """`Ref: AWS::NoValue`: the property is left out."""


_REMOVE = _Remove()


class Resolver:
    """Evaluates the intrinsic functions the template uses, for local values."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str], endpoint: str) -> None:
        self.template = template
        self.resources = template["Resources"]
        self.endpoint = endpoint
        declared = template.get("Parameters", {})
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise UnsupportedTemplate(f"template.yaml has no parameter {', '.join(unknown)}")
        self.params: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _REMOVE,
        }
        for name, spec in declared.items():
            self.params[name] = parameters.get(name, spec.get("Default", ""))
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        resource = self.resources.get(name)
        if resource is None:
            raise UnsupportedTemplate(f"Ref to unknown name {name}")
        if resource["Type"] == "AWS::SQS::Queue":
            return queue_url(name, self.endpoint)
        return physical_name(name)

    def get_att(self, name: str, attribute: str) -> str:
        resource = self.resources.get(name)
        if resource is None:
            raise UnsupportedTemplate(f"GetAtt of unknown resource {name}")
        local = physical_name(name)
        if attribute == "QueueName" and resource["Type"] == "AWS::SQS::Queue":
            return local
        if attribute != "Arn":
            raise UnsupportedTemplate(f"GetAtt {name}.{attribute} is not served locally")
        return {
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{local}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{local}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{local}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{local}",
        }.get(resource["Type"], f"arn:aws:local:{REGION}:{ACCOUNT}:{local}")

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in variables:
                return str(self.resolve(variables[token]))
            name, dot, attribute = token.partition(".")
            if dot and name in self.resources:
                return self.get_att(name, attribute)
            return str(self.ref(token))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not _REMOVE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::Sub":
                return self.sub(arg, {}) if isinstance(arg, str) else self.sub(arg[0], arg[1])
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise UnsupportedTemplate(f"{key} is not evaluated by the local stack")
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _REMOVE}


def load_stack(
    endpoint: str,
    *,
    parameters: dict[str, str] | None = None,
    path: Path = TEMPLATE,
) -> LocalStack:
    """Read `template.yaml` (after the SAM transform) and resolve it against `endpoint`."""
    template, code_dirs = transformed_template(path)
    template = copy.deepcopy(template)
    resolver = Resolver(template, parameters or {}, endpoint)
    resources: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in LOCAL_TYPES:
            continue
        cond = resource.get("Condition")
        if cond and not resolver.condition(cond):
            continue
        resources[logical_id] = {
            "Type": resource["Type"],
            "Properties": resolver.resolve(resource.get("Properties", {})),
        }
    stack = LocalStack(resources=resources)

    for logical_id, res in stack.of_type("AWS::Lambda::Function").items():
        props = res["Properties"]
        env = props.get("Environment", {}).get("Variables", {})
        stack.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=code_dirs[logical_id],
            handler=props["Handler"],
            timeout=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment={k: str(v) for k, v in env.items()},
        )

    for res in stack.of_type("AWS::ApiGateway::RestApi").values():
        _read_api(stack, res["Properties"]["Body"])

    for res in stack.of_type("AWS::Lambda::EventSourceMapping").values():
        props = res["Properties"]
        queue = props["EventSourceArn"].rsplit(":", 1)[-1]
        stack.event_sources.append(
            EventSource(
                function=_by_physical_name(stack.functions, props["FunctionName"]),
                queue=_by_physical_name(stack.resources, queue),
                batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures"
                in props.get("FunctionResponseTypes", []),
            )
        )

    for res in stack.of_type("AWS::Events::Rule").values():
        props = res["Properties"]
        if "ScheduleExpression" not in props or props.get("State") == "DISABLED":
            continue
        for target in props.get("Targets", []):
            name = str(target["Arn"]).rsplit(":", 1)[-1]
            stack.schedules[_by_physical_name(stack.functions, name)] = props["ScheduleExpression"]
    return stack


def _by_physical_name(logical_ids: dict[str, Any], name: str) -> str:
    return next(k for k in logical_ids if physical_name(k) == name)


def _read_api(stack: LocalStack, body: dict[str, Any]) -> None:
    """Routes, the authorizer, CORS and gateway responses of the API's OpenAPI body."""
    schemes = body.get("components", {}).get("securitySchemes", {})
    for name, spec in schemes.items():
        auth = spec.get("x-amazon-apigateway-authorizer")
        if not auth:
            continue
        if auth.get("type") != "request" or auth.get("identitySource"):
            raise UnsupportedTemplate(
                f"authorizer {name}: only REQUEST authorizers without identity sources are served"
            )
        if auth.get("authorizerResultTtlInSeconds", 300) != 0:
            raise UnsupportedTemplate(f"authorizer {name}: result caching is not served locally")
        stack.authorizers[name] = AuthorizerSpec(name=name, function=_arn_function(stack, auth))
    for path, methods in body.get("paths", {}).items():
        if "+}" in path:
            raise UnsupportedTemplate(f"{path}: greedy path parameters are not served locally")
        for method, spec in methods.items():
            integration = spec.get("x-amazon-apigateway-integration", {})
            if method == "options" and integration.get("type") == "mock":
                for response in integration.get("responses", {}).values():
                    for header, value in response.get("responseParameters", {}).items():
                        stack.cors[header.rsplit(".", 1)[-1]] = str(value).strip("'")
                continue
            if integration.get("type") != "aws_proxy" or method.startswith("x-amazon"):
                raise UnsupportedTemplate(f"{method} {path}: only Lambda proxy methods are served")
            security = spec.get("security", [])
            authorizer = next(
                (n for entry in security for n in entry if n in stack.authorizers), None
            )
            stack.routes.append(
                Route(
                    method=method.upper(),
                    path=path,
                    function=_arn_function(stack, integration),
                    authorizer=authorizer,
                )
            )
    stack.gateway_responses = body.get("x-amazon-apigateway-gateway-responses", {})


def _arn_function(stack: LocalStack, spec: dict[str, Any]) -> str:
    uri = str(spec.get("authorizerUri") or spec.get("uri") or "")
    for logical_id in stack.functions:
        if re.search(rf":function:{re.escape(physical_name(logical_id))}(/|$)", uri):
            return logical_id
    raise UnsupportedTemplate(f"no function for integration {uri}")
