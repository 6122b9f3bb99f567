"""`template.yaml`, after the SAM transform, as the local stack and the tests see it.

The local stack never restates a resource: table, queues, bucket, routes, authorizer,
function handlers and environment all come from here, so local and cloud cannot drift.
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


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: where its code is and how it is configured."""

    logical_id: str
    code_dir: Path
    handler: str
    timeout: int
    memory_mb: int
    environment: dict[str, str]
    layers: list[str]


@dataclass(frozen=True)
class Route:
    method: str  # upper case, e.g. GET
    path: str  # template path, e.g. /api/v1/jobs/{job_id}
    function: str  # logical id of the function
    authorizer: str | None


@dataclass(frozen=True)
class AuthorizerSpec:
    name: str
    function: str
    kind: str  # "request" or "token"
    identity_sources: list[str]
    ttl_seconds: int


@dataclass(frozen=True)
class EventSource:
    function: str
    queue: str  # logical id
    batch_size: int
    maximum_concurrency: int | None
    report_batch_item_failures: bool


@dataclass
class LocalStack:
    """Everything the local stack needs from the template, resolved for this machine."""

    resources: dict[str, dict[str, Any]]
    parameters: dict[str, str]
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


@cache
def transformed_template(path: Path = TEMPLATE) -> tuple[dict[str, Any], dict[str, Path]]:
    """The CloudFormation template SAM deploys, and each function's code folder."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(path.read_text())
    code_dirs: dict[str, Path] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            code_dirs[logical_id] = (path.parent / props["CodeUri"]).resolve()
            props["CodeUri"] = f"s3://local/{logical_id}"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            code_dirs[logical_id] = (path.parent / props["ContentUri"]).resolve()
            props["ContentUri"] = f"s3://local/{logical_id}"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK}
    return transform(template, pseudo, _NoManagedPolicies()), code_dirs


class Resolver:
    """Evaluates the intrinsic functions the template uses, for local values."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str], endpoint: str) -> None:
        self.template = template
        self.resources = template["Resources"]
        self.endpoint = endpoint
        self.params: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        for name, spec in template.get("Parameters", {}).items():
            value = parameters.get(name, spec.get("Default", ""))
            self.params[name] = (
                value.split(",")
                if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str)
                else value
            )
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        resource = self.resources.get(name)
        if resource is None:
            raise KeyError(f"Ref to unknown name {name}")
        if resource["Type"] == "AWS::SQS::Queue":
            return queue_url(name, self.endpoint)
        return physical_name(name)

    def get_att(self, name: str, attribute: str) -> Any:
        resource = self.resources.get(name)
        if resource is None:
            raise KeyError(f"GetAtt of unknown resource {name}")
        kind = resource["Type"]
        local = physical_name(name)
        if attribute == "Arn":
            service = {
                "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{local}",
                "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{local}",
                "AWS::S3::Bucket": f"arn:aws:s3:::{local}",
                "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{local}",
            }
            return service.get(kind, f"arn:aws:local:{REGION}:{ACCOUNT}:{local}")
        if attribute == "QueueName":
            return local
        if attribute == "QueueUrl":
            return queue_url(name, self.endpoint)
        return f"{local}.{attribute}"

    def sub(self, text: str, extra: dict[str, Any] | None = None) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if extra and token in extra:
                return str(self.resolve(extra[token]))
            if "." in token and token.split(".", 1)[0] in self.resources:
                name, attribute = token.split(".", 1)
                return str(self.get_att(name, attribute))
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
                value = self.ref(arg)
                return _REMOVE if value is None else value
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], arg[1])
                return self.sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(x) for x in self.resolve(arg[1]))
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Condition":
                return self.condition(arg)
            if key in {"Fn::ImportValue", "Fn::GetAZs", "Fn::Base64", "Fn::Cidr"}:
                return str(arg)
        resolved = {}
        for k, v in node.items():
            value = self.resolve(v)
            if value is not _REMOVE:
                resolved[k] = value
        return resolved


class _Remove:
    pass


_REMOVE = _Remove()


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
        cond = resource.get("Condition")
        if cond and not resolver.condition(cond):
            continue
        resources[logical_id] = {
            "Type": resource["Type"],
            "Properties": resolver.resolve(resource.get("Properties", {})),
        }
    stack = LocalStack(
        resources=resources, parameters={k: str(v) for k, v in resolver.params.items()}
    )

    for logical_id, res in stack.of_type("AWS::Lambda::Function").items():
        props = res["Properties"]
        env = props.get("Environment", {}).get("Variables", {})
        stack.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=code_dirs[logical_id],
            handler=props["Handler"],
            timeout=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment={k: "" if v is None else str(v) for k, v in env.items()},
            layers=[str(x) for x in props.get("Layers", [])],
        )

    for res in stack.of_type("AWS::ApiGateway::RestApi").values():
        body = res["Properties"].get("Body", {})
        _read_api(stack, body)

    for res in stack.of_type("AWS::Lambda::EventSourceMapping").values():
        props = res["Properties"]
        queue = props["EventSourceArn"].rsplit(":", 1)[-1]
        queue_id = next(k for k in stack.resources if physical_name(k) == queue)
        function = next(k for k in stack.functions if physical_name(k) == props["FunctionName"])
        scaling = props.get("ScalingConfig", {})
        stack.event_sources.append(
            EventSource(
                function=function,
                queue=queue_id,
                batch_size=int(props.get("BatchSize", 10)),
                maximum_concurrency=int(scaling["MaximumConcurrency"])
                if "MaximumConcurrency" in scaling
                else None,
                report_batch_item_failures="ReportBatchItemFailures"
                in props.get("FunctionResponseTypes", []),
            )
        )

    for res in stack.of_type("AWS::Events::Rule").values():
        props = res["Properties"]
        for target in props.get("Targets", []):
            arn = str(target["Arn"])
            target_fn = next(
                (k for k in stack.functions if arn.endswith(":" + physical_name(k))), None
            )
            if target_fn and "ScheduleExpression" in props:
                stack.schedules[target_fn] = props["ScheduleExpression"]
    return stack


def _read_api(stack: LocalStack, body: dict[str, Any]) -> None:
    schemes = body.get("securityDefinitions") or body.get("components", {}).get(
        "securitySchemes", {}
    )
    for name, spec in schemes.items():
        auth = spec.get("x-amazon-apigateway-authorizer")
        if not auth:
            continue
        identity = str(auth.get("identitySource", "") or "")
        stack.authorizers[name] = AuthorizerSpec(
            name=name,
            function=_arn_function(stack, auth),
            kind=str(auth.get("type", "request")).lower(),
            identity_sources=[s.strip() for s in identity.split(",") if s.strip()],
            ttl_seconds=int(auth.get("authorizerResultTtlInSeconds", 300)),
        )
    for path, methods in body.get("paths", {}).items():
        for method, spec in methods.items():
            integration = spec.get("x-amazon-apigateway-integration", {})
            if integration.get("type") != "aws_proxy":
                continue
            security = spec.get("security") or body.get("security") or []
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
            options = methods.get("options", {}).get("x-amazon-apigateway-integration", {})
            for response in options.get("responses", {}).values():
                for header, value in response.get("responseParameters", {}).items():
                    stack.cors[header.rsplit(".", 1)[-1]] = str(value).strip("'")
    stack.gateway_responses = body.get("x-amazon-apigateway-gateway-responses", {})


def _arn_function(stack: LocalStack, spec: dict[str, Any]) -> str:
    uri = str(spec.get("authorizerUri") or spec.get("uri") or "")
    for logical_id in stack.functions:
        if re.search(rf":function:{re.escape(physical_name(logical_id))}(/|$)", uri):
            return logical_id
    raise KeyError(f"no function for integration {uri}")
