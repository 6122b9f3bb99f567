"""What template.yaml does: routes to the code that serves them, permissions its code needs
and no more, queues by priority, errors in the API's shape, alarms that can fire.

The template is checked as written and after the SAM transform (done offline with
`samtranslator`, which is what CloudFormation deploys and what the local stack reads).
A test here checks a behaviour or a relation between two places (template and code, two
resources); a value that is only restated (a default, a memory size) is not tested.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS = ROOT / "functions"
PRIORITIES = ["Low", "Normal", "High", "Urgent"]  # priority 1..4
QUEUES = [f"{p}Queue" for p in PRIORITIES]
# Routes served without the JWT authorizer (docs/api.md): the OpenAPI document, and the
# web console's page and files (docs/console.md), which sign in with a token of their own.
CONSOLE_ROUTES = {("GET", "/"), ("GET", "/console/{asset}")}
PUBLIC_ROUTES = {("GET", "/api/v1/openapi.json"), *CONSOLE_ROUTES}
API_GATEWAY_TIMEOUT_SECONDS = 29  # API Gateway's integration timeout


def code_routes() -> dict[tuple[str, str], str]:
    """(METHOD, path) -> code folder, for every `@app.<method>(path)` in functions/*/app.py."""
    routes: dict[tuple[str, str], str] = {}
    for app in sorted(FUNCTIONS.glob("*/app.py")):
        for node in ast.walk(ast.parse(app.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and isinstance(decorator.func.value, ast.Name)
                    and decorator.func.value.id == "app"
                    and decorator.func.attr in {"get", "post", "put", "patch", "delete"}
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                ):
                    path = re.sub(r"<(\w+)>", r"{\1}", str(decorator.args[0].value))
                    routes[(decorator.func.attr.upper(), path)] = app.parent.name
    return routes


CODE_ROUTES = code_routes()
SOURCE = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
ALL_FUNCTIONS = sorted(
    name for name, res in SOURCE["Resources"].items() if res["Type"] == "AWS::Serverless::Function"
)
API_FUNCTIONS = [
    name
    for name in ALL_FUNCTIONS
    if any(
        e["Type"] == "Api"
        for e in SOURCE["Resources"][name]["Properties"].get("Events", {}).values()
    )
]


class _NoManagedPolicies:
    """Managed policy loader for an offline transform (SAM's bundled map covers ours)."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return copy.deepcopy(SOURCE)


@pytest.fixture(scope="module")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    source = copy.deepcopy(template)
    # Local code folders become S3 URIs, as `sam validate` does, so the transform runs offline.
    for resource in source["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://matchq-test-artifacts/{props[key]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(source, {}, _NoManagedPolicies())


@pytest.fixture(scope="module")
def resources(transformed: dict[str, Any]) -> dict[str, Any]:
    return transformed["Resources"]


@pytest.fixture(scope="module")
def api_body(resources: dict[str, Any]) -> dict[str, Any]:
    return resources["MatchqApi"]["Properties"]["Body"]


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's functions (as written) by logical id."""
    return {
        name: res
        for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def default(template: dict[str, Any], value: Any) -> Any:
    """The value of a literal or of a {"Ref": parameter} with the parameter's default."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def layer_id(resources: dict[str, Any], name: str) -> str:
    """Logical id of a transformed layer (SAM appends a content hash to it)."""
    (found,) = [
        key
        for key, res in resources.items()
        if res["Type"] == "AWS::Lambda::LayerVersion" and key.startswith(name)
    ]
    return found


def role_statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Inline policy statements of a function's role; Fn::If branches count as granted."""
    statements: list[dict[str, Any]] = []
    for policy in resources[f"{function}Role"]["Properties"].get("Policies", []):
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        statements.extend(policy["PolicyDocument"]["Statement"])
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def granted(resources: dict[str, Any], function: str, prefix: str) -> list[dict[str, Any]]:
    """Statements of a function's role with an action starting with `prefix` (e.g. "s3:")."""
    return [
        s
        for s in role_statements(resources, function)
        if any(a.startswith(prefix) for a in actions(s))
    ]


def as_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# ----------------------------------------------------------------------------- functions


def test_template_transforms_offline(transformed: dict[str, Any]) -> None:
    assert "Transform" not in transformed
    assert transformed["Resources"]


def test_every_handler_is_defined_in_its_code_folder(template: dict[str, Any]) -> None:
    handler_default = template["Globals"]["Function"]["Handler"]
    for name, res in functions(template).items():
        folder = ROOT / res["Properties"]["CodeUri"]
        module, _, attribute = res["Properties"].get("Handler", handler_default).rpartition(".")
        tree = ast.parse((folder / f"{module}.py").read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)} | {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert attribute in defined, f"{name}: {module}.py defines no {attribute}"


def test_functions_run_where_their_layers_are_built(resources: dict[str, Any]) -> None:
    layers = {
        k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Lambda::LayerVersion"
    }
    for name, res in resources.items():
        if res["Type"] != "AWS::Lambda::Function":
            continue
        props = res["Properties"]
        for ref in props["Layers"]:
            layer = layers[ref["Ref"]]
            assert props["Runtime"] in layer["CompatibleRuntimes"], name
            assert set(props["Architectures"]) <= set(layer["CompatibleArchitectures"]), name


def test_api_functions_finish_within_api_gateways_timeout(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    for name in [*API_FUNCTIONS, "AuthorizerFunction"]:
        props = functions(template)[name]["Properties"]
        assert (
            default(template, props.get("Timeout", glob["Timeout"])) <= API_GATEWAY_TIMEOUT_SECONDS
        )


def test_jwt_algorithms_can_never_include_none(template: dict[str, Any]) -> None:
    pattern = re.compile(template["Parameters"]["JwtAlgorithms"]["AllowedPattern"])
    assert pattern.fullmatch(template["Parameters"]["JwtAlgorithms"]["Default"])
    for value in ("none", "HS256,none", "NONE", ""):
        assert not pattern.fullmatch(value), value


# ----------------------------------------------------------------------------- API


def template_routes(api_body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in api_body["paths"].items()
        for method, operation in item.items()
        if method != "options"
    }


def test_the_api_serves_exactly_the_routes_the_code_declares(api_body: dict[str, Any]) -> None:
    assert CODE_ROUTES, "no @app.<method>(...) routes found in functions/*/app.py"
    assert set(template_routes(api_body)) == set(CODE_ROUTES)


@pytest.mark.parametrize(("method", "path"), sorted(CODE_ROUTES))
def test_each_route_reaches_the_function_built_from_the_code_that_declares_it(
    template: dict[str, Any], api_body: dict[str, Any], method: str, path: str
) -> None:
    operation = template_routes(api_body)[(method, path)]
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    (function,) = re.findall(r"\$\{(\w+)\.Arn\}", as_text(integration["uri"]))
    props = functions(template)[function]["Properties"]
    assert Path(props["CodeUri"]).name == CODE_ROUTES[(method, path)]


@pytest.mark.parametrize(("method", "path"), sorted(CODE_ROUTES))
def test_every_route_but_the_public_ones_is_behind_the_jwt_authorizer(
    api_body: dict[str, Any], method: str, path: str
) -> None:
    security = template_routes(api_body)[(method, path)].get("security", [])
    if (method, path) in PUBLIC_ROUTES:
        assert all("JwtAuthorizer" not in entry for entry in security)
    else:
        assert security == [{"JwtAuthorizer": []}]


def test_cors_preflight_needs_no_token(api_body: dict[str, Any]) -> None:
    for path, item in api_body["paths"].items():
        assert item["options"]["x-amazon-apigateway-integration"]["type"] == "mock", path
        assert "security" not in item["options"], f"preflight of {path} must not need a token"


def test_the_authorizer_runs_for_every_request_so_every_401_is_ours(
    api_body: dict[str, Any],
) -> None:
    """No identity sources and no cache: API Gateway calls the authorizer even without an
    Authorization header, so a missing token gets the API's error body too."""
    authorizer = api_body["components"]["securitySchemes"]["JwtAuthorizer"][
        "x-amazon-apigateway-authorizer"
    ]
    assert authorizer["type"] == "request"
    assert authorizer["authorizerResultTtlInSeconds"] == 0
    assert "identitySource" not in authorizer


@pytest.fixture(scope="module")
def local_stack() -> Any:
    from matchq_local.template import load_stack

    return load_stack("http://127.0.0.1:5001")


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("ACCESS_DENIED", 401, "Unauthorized"),
        ("UNAUTHORIZED", 401, "Unauthorized"),
        ("AUTHORIZER_FAILURE", 500, "Internal Server Error"),
        ("AUTHORIZER_CONFIGURATION_ERROR", 500, "Internal Server Error"),
        ("MISSING_AUTHENTICATION_TOKEN", 404, "Not Found"),
        ("REQUEST_TOO_LARGE", 413, "Content Too Large"),
        ("DEFAULT_5XX", 502, "Internal Server Error"),
    ],
)
def test_gateway_responses_render_the_error_body_with_cors(
    local_stack: Any, kind: str, status: int, reason: str
) -> None:
    """Rendered as API Gateway renders them (the local gateway's renderer)."""
    from datetime import UTC, datetime

    from matchq_local.gateway import RequestInfo, render_gateway_response
    from tests.support import error_body_ok

    info = RequestInfo("req-1", datetime.now(UTC), "GET", "/api/v1/jobs/list", "127.0.0.1", "t")
    context = {"details": "Token has expired", "timestamp": "2026-01-01T00:00:00Z"}
    response = render_gateway_response(local_stack, kind, info, authorizer=context)
    assert response.status_code == status
    assert error_body_ok(json.loads(response.get_data()), reason), response.get_data()
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if kind == "ACCESS_DENIED":  # the authorizer's reason reaches the caller
        assert json.loads(response.get_data())["details"] == "Token has expired"


def test_the_api_url_output_plus_a_route_path_reaches_the_route(
    transformed: dict[str, Any], resources: dict[str, Any]
) -> None:
    url = transformed["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
    (stage,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert url.endswith(f"/{stage['Properties']['StageName']}/api/v1")
    api_routes = set(CODE_ROUTES) - CONSOLE_ROUTES
    assert all(path.startswith("/api/v1/") for _, path in api_routes)
    console = transformed["Outputs"]["ConsoleUrl"]["Value"]["Fn::Sub"]
    # The console is the stage's root, with the slash its relative links need.
    assert console == url.removesuffix("api/v1")


def test_the_authorizer_reads_a_secret_only_when_one_is_configured(
    resources: dict[str, Any],
) -> None:
    policies = resources["AuthorizerFunctionRole"]["Properties"]["Policies"]
    conditions = sorted(p["Fn::If"][0] for p in policies)
    assert conditions == ["HasJwtSecretArn", "HasJwtSecretParameter"]
    assert all(p["Fn::If"][2] == {"Ref": "AWS::NoValue"} for p in policies)


# ----------------------------------------------------------------------------- layers


@pytest.mark.parametrize("function", ["AuthorizerFunction", "MaintenanceFunction", "API"])
def test_no_function_but_the_worker_carries_the_matching_layer(
    template: dict[str, Any], resources: dict[str, Any], function: str
) -> None:
    """pandas and rapidfuzz stay out of the API's cold starts."""
    names = API_FUNCTIONS if function == "API" else [function]
    for name in names:
        assert resources[name]["Properties"]["Layers"] == [
            {"Ref": layer_id(resources, "SharedLayer")}
        ], name


def test_worker_has_the_shared_and_matching_layers_once_each(resources: dict[str, Any]) -> None:
    assert resources["WorkerFunction"]["Properties"]["Layers"] == [
        {"Ref": layer_id(resources, "SharedLayer")},
        {"Ref": layer_id(resources, "MatchingLayer")},
    ]


# ----------------------------------------------------------------------------- worker and queues


@pytest.mark.parametrize("priority", PRIORITIES)
def test_each_queue_feeds_the_worker_one_job_at_a_time_with_partial_failures(
    resources: dict[str, Any], priority: str
) -> None:
    mapping = resources[f"WorkerFunction{priority}QueueEvent"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [f"{priority}Queue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": "WorkerFunction"}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_only_the_four_queues_feed_the_worker(resources: dict[str, Any]) -> None:
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    worker = [m for m in mappings if m["Properties"]["FunctionName"] == {"Ref": "WorkerFunction"}]
    assert len(worker) == len(QUEUES)
    # and each webhook queue feeds its one function
    others = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"]["FunctionName"]["Ref"]
        for m in mappings
        if m not in worker
    }
    assert others == {
        "NotificationsQueue": "NotifierFunction",
        "DeliveriesQueue": "WebhookDeliveryFunction",
    }


def test_the_webhook_retry_schedule_spans_an_hour_then_dead_letters(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    env = resources["WebhookDeliveryFunction"]["Properties"]["Environment"]["Variables"]
    delays = [int(s) for s in env["MATCHQ_WEBHOOK_RETRY_SECONDS"].split(",")]
    assert delays == sorted(delays) and sum(delays) >= 3600
    queue = resources["DeliveriesQueue"]["Properties"]
    # one attempt per receive: the first, then one after each delay
    assert queue["RedrivePolicy"]["maxReceiveCount"] == len(delays) + 1
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["DeliveriesDeadLetterQueue", "Arn"]
    }
    assert max(delays) <= 43200  # SQS's largest visibility timeout
    # a queue's visibility timeout outlasts its function (Lambda's rule for SQS sources)
    for function, name in (
        ("WebhookDeliveryFunction", "DeliveriesQueue"),
        ("NotifierFunction", "NotificationsQueue"),
    ):
        timeout = resources[function]["Properties"]["Timeout"]
        assert resources[name]["Properties"]["VisibilityTimeout"] >= 6 * timeout
        assert resources[name]["Properties"]["SqsManagedSseEnabled"] is True


def test_the_deliveries_dead_letter_queue_alarms(resources: dict[str, Any]) -> None:
    alarm = resources["DeliveriesDeadLetterQueueAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeliveriesDeadLetterQueue", "QueueName"]}}
    ]


def test_the_notifier_puts_events_on_the_default_bus_only(resources: dict[str, Any]) -> None:
    (put,) = granted(resources, "NotifierFunction", "events:")
    assert actions(put) == ["events:PutEvents"]
    assert "event-bus/default" in as_text(put["Resource"])
    assert put["Condition"] == {"StringEquals": {"events:source": "matchq"}}
    for function in ALL_FUNCTIONS:
        if function != "NotifierFunction":
            assert granted(resources, function, "events:") == [], function


def test_loopback_webhooks_are_never_allowed_by_the_template(template: dict[str, Any]) -> None:
    assert "WEBHOOKS_ALLOW_LOOPBACK" not in json.dumps(template)


@pytest.mark.parametrize("function", ["CancelJobFunction", "WorkerFunction", "MaintenanceFunction"])
def test_functions_that_change_job_states_can_notify(
    resources: dict[str, Any], function: str
) -> None:
    send = [s for s in granted(resources, function, "sqs:") if "sqs:SendMessage*" in actions(s)]
    assert any('["NotificationsQueue", "QueueName"]' in as_text(s["Resource"]) for s in send)


def test_worker_concurrency_grows_strictly_with_priority(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    limits = [
        default(
            template,
            resources[f"WorkerFunction{p}QueueEvent"]["Properties"]["ScalingConfig"][
                "MaximumConcurrency"
            ],
        )
        for p in PRIORITIES
    ]
    assert limits == sorted(set(limits)), f"not strictly increasing: {limits}"
    for p in PRIORITIES:  # Lambda rejects a MaximumConcurrency outside 2..1000
        param = template["Parameters"][f"WorkerConcurrency{p}"]
        assert 2 <= param["MinValue"] <= param["MaxValue"] <= 1000


def test_stats_capacity_is_what_the_event_source_mappings_allow(local_stack: Any) -> None:
    """`total_workers` sums MATCHQ_WORKER_CONCURRENCY, low..urgent: the mappings' caps."""
    caps = [
        str(
            local_stack.resources[f"WorkerFunction{p}QueueEvent"]["Properties"]["ScalingConfig"][
                "MaximumConcurrency"
            ]
        )
        for p in PRIORITIES
    ]
    for spec in local_stack.functions.values():
        assert spec.environment["MATCHQ_WORKER_CONCURRENCY"] == ",".join(caps)


def test_the_queue_url_variables_name_the_queues_of_their_priority(local_stack: Any) -> None:
    from matchq_local.workers import polled_queues

    queues = polled_queues(local_stack, "http://127.0.0.1:5001", "WorkerFunction")
    assert [(q.name, q.priority) for q in queues] == [
        ("UrgentQueue", 4),
        ("HighQueue", 3),
        ("NormalQueue", 2),
        ("LowQueue", 1),
    ]


@pytest.mark.parametrize("priority", PRIORITIES)
def test_each_queue_redrives_to_its_own_dead_letter_queue(
    resources: dict[str, Any], priority: str
) -> None:
    redrive = resources[f"{priority}Queue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [f"{priority}DeadLetterQueue", "Arn"]}
    # The worker fails a job on its last delivery: it must know the redrive count.
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    env = resources["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MATCHQ_MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}


@pytest.mark.parametrize("priority", PRIORITIES)
def test_visibility_timeout_is_at_least_six_worker_timeouts(
    template: dict[str, Any], priority: str
) -> None:
    visibility = default(
        template, template["Resources"][f"{priority}Queue"]["Properties"]["VisibilityTimeout"]
    )
    worker_timeout = default(
        template, template["Resources"]["WorkerFunction"]["Properties"]["Timeout"]
    )
    assert visibility >= 6 * worker_timeout
    # Whatever is deployed, the queue never hides a message for less than the longest worker run.
    params = template["Parameters"]
    assert (
        params["WorkerVisibilityTimeoutSeconds"]["MinValue"]
        >= params["WorkerTimeoutSeconds"]["MaxValue"]
    )


# ----------------------------------------------------------------------------- table and bucket


def test_the_indexes_the_data_layer_queries_exist(resources: dict[str, Any]) -> None:
    from matchq.dal import jobs

    props = resources["JobsTable"]["Properties"]
    indexes = {index["IndexName"]: index for index in props["GlobalSecondaryIndexes"]}
    used = {jobs.BY_USER, jobs.BY_STATUS, jobs.BY_USER_STATUS, jobs.BY_CREATED}
    assert used <= set(indexes)
    for name in used:  # newest first: every index sorts by creation
        keys = [(k["AttributeName"], k["KeyType"]) for k in indexes[name]["KeySchema"]]
        assert keys[1] == ("created_key", "RANGE"), name
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}, name
    defined = {a["AttributeName"] for a in props["AttributeDefinitions"]}
    assert defined == {
        k["AttributeName"] for index in [props, *indexes.values()] for k in index["KeySchema"]
    }


def test_the_table_expires_the_attribute_the_data_layer_writes(resources: dict[str, Any]) -> None:
    ttl = resources["JobsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl["Enabled"] is True
    source = (ROOT / "shared/matchq/dal/jobs.py").read_text(encoding="utf-8")
    assert f'values["{ttl["AttributeName"]}"]' in source


def test_bucket_lifecycle_covers_the_prefixes_the_storage_writes(
    resources: dict[str, Any],
) -> None:
    from matchq.dal.storage import results_prefix, upload_prefix

    rules = resources["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {rule["Prefix"] for rule in rules if "ExpirationInDays" in rule}
    written = {
        upload_prefix("u", "f").split("/")[0] + "/",
        results_prefix("u", "j").split("/")[0] + "/",
    }
    assert expiring == written
    assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)


def test_browsers_can_upload_and_download_with_presigned_requests(
    resources: dict[str, Any],
) -> None:
    (rule,) = resources["DataBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert {"POST", "GET"} <= set(rule["AllowedMethods"])
    assert rule["AllowedOrigins"] == ["*"]


def test_bucket_policy_denies_requests_without_tls(resources: dict[str, Any]) -> None:
    (statement,) = resources["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "s3:*",
    )
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [
        {"Fn::GetAtt": ["DataBucket", "Arn"]},
        {"Fn::Sub": "${DataBucket.Arn}/*"},
    ]


# ----------------------------------------------------------------------------- permissions


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_no_wildcard_grants(resources: dict[str, Any], function: str) -> None:
    for statement in role_statements(resources, function):
        assert "*" not in actions(statement)
        assert not any(a.endswith(":*") for a in actions(statement))
        assert statement.get("Resource") != "*"


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_s3_grants_are_scoped_to_a_prefix(resources: dict[str, Any], function: str) -> None:
    for statement in granted(resources, function, "s3:"):
        resource = as_text(statement["Resource"])
        if actions(statement) == ["s3:ListBucket"]:
            prefixes = statement["Condition"]["StringLike"]["s3:prefix"]
            prefixes = [prefixes] if isinstance(prefixes, str) else prefixes
            assert set(prefixes) <= {"uploads/*", "results/*"}
        else:
            assert "${DataBucket}/uploads/*" in resource or "${DataBucket}/results/*" in resource


# The bucket objects each function's code reads, writes or deletes (matchq.dal.storage).
OBJECT_ACCESS: dict[str, set[tuple[str, str]]] = {
    "SubmitJobFunction": {("s3:GetObject", "uploads")},
    "ListJobsFunction": set(),
    "GetJobFunction": set(),
    "CancelJobFunction": set(),
    "DeleteJobFunction": {("s3:DeleteObject", "results")},
    "JobStatsFunction": set(),
    "CleanupJobsFunction": {("s3:DeleteObject", "results")},
    "CreateUploadFunction": {("s3:PutObject", "uploads")},
    "GetFileFunction": {("s3:GetObject", "uploads")},  # ranged reads of one upload
    "CreateWebhookFunction": set(),
    "ListWebhooksFunction": set(),
    "DeleteWebhookFunction": set(),
    "NotifierFunction": set(),
    "WebhookDeliveryFunction": set(),
    "JobResultsFunction": {("s3:GetObject", "results")},
    "AuthorizerFunction": set(),
    "MaintenanceFunction": {("s3:DeleteObject", "results")},
    "OpenApiFunction": set(),  # GET /api/v1/openapi.json: a document built from code
    "ConsoleFunction": set(),  # the console's files, packaged with its code
    "WorkerFunction": {
        ("s3:GetObject", "uploads"),
        ("s3:GetObject", "results"),
        ("s3:PutObject", "results"),
        ("s3:DeleteObject", "results"),
        ("s3:AbortMultipartUpload", "results"),
    },
}


def test_every_functions_access_is_listed_here() -> None:
    """A new function states what it may touch before it gets any test of least privilege."""
    unlisted = set(ALL_FUNCTIONS) - set(OBJECT_ACCESS)
    assert not unlisted, f"add {sorted(unlisted)} to OBJECT_ACCESS"
    unlisted = set(ALL_FUNCTIONS) - set(TABLE_WRITES) - set(NO_TABLE_ACCESS)
    assert not unlisted, f"add {sorted(unlisted)} to TABLE_WRITES or NO_TABLE_ACCESS"


@pytest.mark.parametrize(
    ("function", "expected"), [(f, OBJECT_ACCESS[f]) for f in ALL_FUNCTIONS if f in OBJECT_ACCESS]
)
def test_object_permissions_per_function(
    resources: dict[str, Any], function: str, expected: set[tuple[str, str]]
) -> None:
    found = set()
    for statement in granted(resources, function, "s3:"):
        resource = as_text(statement["Resource"])
        for action in actions(statement):
            if action != "s3:ListBucket":
                found |= {(action, p) for p in ("uploads", "results") if f"/{p}/*" in resource}
    assert found == expected


# The table calls each function's code makes (matchq.dal.jobs, matchq.dal.files): every
# job reader reads (GetItem, Query), and writes only what its code path needs. The upload
# functions touch only their file records: CreateUpload puts one, GetFile gets one.
# Nobody gets Scan or Batch*.
TABLE_READS = {"dynamodb:GetItem", "dynamodb:Query"}
OWN_READS = {
    "CreateUploadFunction": set(),
    "GetFileFunction": {"dynamodb:GetItem"},
    "CreateWebhookFunction": set(),
    "ListWebhooksFunction": {"dynamodb:GetItem"},
    "DeleteWebhookFunction": {"dynamodb:GetItem"},
    "NotifierFunction": {"dynamodb:GetItem"},
    "WebhookDeliveryFunction": {"dynamodb:GetItem"},
}
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
TABLE_WRITES = {
    "ListJobsFunction": set(),
    "GetJobFunction": set(),
    "JobStatsFunction": set(),
    "JobResultsFunction": set(),
    "SubmitJobFunction": {"dynamodb:PutItem", "dynamodb:DeleteItem"},
    "CancelJobFunction": {"dynamodb:UpdateItem"},
    "DeleteJobFunction": {"dynamodb:DeleteItem"},
    "CleanupJobsFunction": {"dynamodb:DeleteItem"},
    "WorkerFunction": {"dynamodb:UpdateItem"},
    "MaintenanceFunction": {"dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "CreateUploadFunction": {"dynamodb:PutItem"},
    "GetFileFunction": set(),
    # webhooks (matchq.dal.webhooks): a transaction of two items; the ledger's claim/done
    "CreateWebhookFunction": {"dynamodb:PutItem", "dynamodb:UpdateItem"},
    "ListWebhooksFunction": set(),
    "DeleteWebhookFunction": {"dynamodb:DeleteItem", "dynamodb:UpdateItem"},
    "NotifierFunction": {"dynamodb:PutItem", "dynamodb:UpdateItem"},
    "WebhookDeliveryFunction": {"dynamodb:PutItem", "dynamodb:UpdateItem"},
}


@pytest.mark.parametrize(
    ("function", "writes"), [(f, w) for f, w in TABLE_WRITES.items() if f in ALL_FUNCTIONS]
)
def test_table_access_per_function(
    resources: dict[str, Any], function: str, writes: set[str]
) -> None:
    statements = [
        s
        for s in granted(resources, function, "dynamodb:")
        if "IdempotencyTable" not in as_text(s["Resource"])
    ]
    assert statements, f"{function} cannot reach the table"
    table_actions = {a for s in statements for a in actions(s)}
    assert table_actions == OWN_READS.get(function, TABLE_READS) | writes
    for statement in statements:
        assert "JobsTable" in as_text(statement["Resource"])
        if set(actions(statement)) & WRITE_ACTIONS:
            # Writes go to the table itself, never to an index.
            assert statement["Resource"] == {"Fn::GetAtt": ["JobsTable", "Arn"]}


def test_only_submit_reaches_the_idempotency_records(resources: dict[str, Any]) -> None:
    # Powertools idempotency: get, conditional put, update with the answer, delete on error
    for function in ALL_FUNCTIONS:
        statements = [
            s
            for s in granted(resources, function, "dynamodb:")
            if "IdempotencyTable" in as_text(s["Resource"])
        ]
        if function != "SubmitJobFunction":
            assert statements == [], function
            continue
        assert {a for s in statements for a in actions(s)} == {
            "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        }  # fmt: skip
        for statement in statements:
            assert statement["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}


NO_TABLE_ACCESS = ["AuthorizerFunction", "OpenApiFunction", "ConsoleFunction"]


@pytest.mark.parametrize("function", [f for f in NO_TABLE_ACCESS if f in ALL_FUNCTIONS])
def test_functions_without_table_access(resources: dict[str, Any], function: str) -> None:
    assert granted(resources, function, "dynamodb:") == []


@pytest.mark.parametrize("function", ["SubmitJobFunction", "MaintenanceFunction", "WorkerFunction"])
def test_enqueuers_can_send_to_every_priority_queue(
    resources: dict[str, Any], function: str
) -> None:
    send = [s for s in granted(resources, function, "sqs:") if "sqs:SendMessage*" in actions(s)]
    queues = {q for s in send for q in QUEUES if f'["{q}", "QueueName"]' in as_text(s["Resource"])}
    assert queues == set(QUEUES)


@pytest.mark.parametrize(
    "function",
    [f for f in API_FUNCTIONS if f not in {"SubmitJobFunction", "CancelJobFunction"}]
    + ["AuthorizerFunction"],
)
def test_other_api_functions_cannot_touch_the_queues(
    resources: dict[str, Any], function: str
) -> None:
    assert granted(resources, function, "sqs:") == []


def test_cancel_sends_only_its_state_change(resources: dict[str, Any]) -> None:
    (send,) = granted(resources, "CancelJobFunction", "sqs:")
    assert '["NotificationsQueue", "QueueName"]' in as_text(send["Resource"])


# ----------------------------------------------------------------------------- maintenance


def test_maintenance_runs_on_a_schedule_the_local_stack_can_run(local_stack: Any) -> None:
    from matchq_local.scheduler import rate_seconds

    assert set(local_stack.schedules) == {"MaintenanceFunction"}
    assert rate_seconds(local_stack.schedules["MaintenanceFunction"]) is not None


# ----------------------------------------------------------------------------- least privilege

# What SAM attaches to every generated role: logs (Resource "*" in AWS's own policy) and
# X-Ray (which has no resource-level permissions). Nothing broader may appear.
EXPECTED_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}


def managed_policies(resources: dict[str, Any], function: str) -> set[str]:
    arns = resources[f"{function}Role"]["Properties"]["ManagedPolicyArns"]
    return {
        (a["Fn::Sub"] if isinstance(a, dict) else a).replace("${AWS::Partition}", "aws")
        for a in arns
    }


SQS_CONSUMERS = {
    "WorkerFunction": QUEUES,
    "NotifierFunction": ["NotificationsQueue"],
    "WebhookDeliveryFunction": ["DeliveriesQueue"],
}


@pytest.mark.parametrize("function", ["NotifierFunction", "WebhookDeliveryFunction"])
def test_webhook_consumers_sqs_managed_policy_is_denied_outside_their_queue(
    resources: dict[str, Any], function: str
) -> None:
    sqs_managed = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    assert managed_policies(resources, function) == EXPECTED_MANAGED | {sqs_managed}
    (deny,) = [s for s in role_statements(resources, function) if s["Effect"] == "Deny"]
    assert set(actions(deny)) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert deny["NotResource"] == [{"Fn::GetAtt": [q, "Arn"]} for q in SQS_CONSUMERS[function]]


@pytest.mark.parametrize("function", [f for f in ALL_FUNCTIONS if f not in SQS_CONSUMERS])
def test_roles_carry_only_the_basic_execution_and_xray_managed_policies(
    resources: dict[str, Any], function: str
) -> None:
    assert managed_policies(resources, function) == EXPECTED_MANAGED


def test_worker_sqs_managed_policy_is_denied_outside_the_job_queues(
    resources: dict[str, Any],
) -> None:
    sqs_managed = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    assert managed_policies(resources, "WorkerFunction") == EXPECTED_MANAGED | {sqs_managed}
    (deny,) = [s for s in role_statements(resources, "WorkerFunction") if s["Effect"] == "Deny"]
    # Everything the managed policy allows on Resource "*".
    assert set(actions(deny)) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert deny["NotResource"] == [{"Fn::GetAtt": [q, "Arn"]} for q in QUEUES]
    assert "Resource" not in deny


def test_authorizer_reaches_only_its_signing_key(resources: dict[str, Any]) -> None:
    for statement in role_statements(resources, "AuthorizerFunction"):
        for action in actions(statement):
            assert action.split(":")[0] in {"secretsmanager", "ssm"}, action
    for service in ("dynamodb:", "s3:", "sqs:"):
        assert granted(resources, "AuthorizerFunction", service) == []


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_no_scan_or_batch_access_to_the_table(resources: dict[str, Any], function: str) -> None:
    for statement in granted(resources, function, "dynamodb:"):
        for action in actions(statement):
            assert "Scan" not in action
            assert "Batch" not in action


# ----------------------------------------------------------------------------- log groups


def log_groups(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::Logs::LogGroup"}


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_every_function_has_its_log_group_with_a_retention(
    resources: dict[str, Any], function: str
) -> None:
    props = resources[f"{function}LogGroup"]["Properties"]
    assert props["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_log_groups_are_exactly_one_per_function(resources: dict[str, Any]) -> None:
    assert set(log_groups(resources)) == {f"{f}LogGroup" for f in ALL_FUNCTIONS}


def test_log_retention_is_one_cloudwatch_accepts(template: dict[str, Any]) -> None:
    param = template["Parameters"]["LogRetentionDays"]
    assert param["Default"] in param["AllowedValues"]
    # The values CloudWatch Logs accepts: a typo would only fail at deploy time.
    assert set(param["AllowedValues"]) <= {
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
        2557, 2922, 3288, 3653,
    }  # fmt: skip


# ----------------------------------------------------------------------------- alarms


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"
    }


def dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_every_alarm_notifies_the_topic_and_ignores_missing_data(
    resources: dict[str, Any],
) -> None:
    found = alarms(resources)
    for name, alarm in found.items():
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name
        assert alarm["EvaluationPeriods"] >= 1


@pytest.mark.parametrize("priority", PRIORITIES)
def test_each_dead_letter_queue_alarms_on_any_visible_message(
    resources: dict[str, Any], priority: str
) -> None:
    alarm = alarms(resources)[f"{priority}DeadLetterQueueAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert dimensions(alarm) == {
        "QueueName": {"Fn::GetAtt": [f"{priority}DeadLetterQueue", "QueueName"]}
    }
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] == 0


@pytest.mark.parametrize("priority", PRIORITIES)
def test_each_priority_queue_alarms_on_the_age_of_its_oldest_message(
    resources: dict[str, Any], priority: str
) -> None:
    alarm = alarms(resources)[f"{priority}QueueAgeAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert dimensions(alarm) == {"QueueName": {"Fn::GetAtt": [f"{priority}Queue", "QueueName"]}}
    assert alarm["Threshold"] == {"Ref": f"QueueAgeAlarmSeconds{priority}"}


def test_queue_age_thresholds_tighten_with_priority_and_outlast_a_worker_run(
    template: dict[str, Any],
) -> None:
    params = template["Parameters"]
    thresholds = [params[f"QueueAgeAlarmSeconds{p}"]["Default"] for p in PRIORITIES]
    assert thresholds == sorted(set(thresholds), reverse=True), thresholds
    # The metric counts in-flight messages: a job that simply runs must not raise it.
    assert min(thresholds) > params["WorkerTimeoutSeconds"]["MaxValue"]


@pytest.mark.parametrize(
    ("alarm_id", "function", "metric"),
    [
        ("WorkerErrorsAlarm", "WorkerFunction", "Errors"),
        ("WorkerThrottlesAlarm", "WorkerFunction", "Throttles"),
        ("MaintenanceErrorsAlarm", "MaintenanceFunction", "Errors"),
    ],
)
def test_lambda_alarms(
    resources: dict[str, Any], alarm_id: str, function: str, metric: str
) -> None:
    alarm = alarms(resources)[alarm_id]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric)
    assert dimensions(alarm) == {"FunctionName": {"Ref": function}}
    assert alarm["Statistic"] == "Sum"
    assert alarm["Threshold"] == 0


def test_long_running_jobs_alarm_matches_what_maintenance_publishes(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    alarm = alarms(resources)["LongRunningJobsAlarm"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"] == "matchq"
    assert alarm["MetricName"] == "LongRunningJobs"
    # Powertools adds the service name as the "service" dimension of every metric.
    assert dimensions(alarm) == {"service": env["POWERTOOLS_SERVICE_NAME"]}
    assert alarm["Threshold"] == 0
    assert "Unit" not in alarm  # a unit mismatch would make the alarm see no data at all
    source = (ROOT / "shared/matchq/services/maintenance.py").read_text(encoding="utf-8")
    assert 'name="LongRunningJobs"' in source


def test_alarm_email_subscription_only_when_an_address_is_given(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert resources["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


# ----------------------------------------------------------------------------- scanner


def test_every_scanner_suppression_names_a_check_and_a_reason(template: dict[str, Any]) -> None:
    for name, resource in template["Resources"].items():
        skips = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        for skip in skips:
            assert set(skip) == {"id", "comment"}, name
            assert skip["id"].startswith(("CKV_AWS_", "CKV2_AWS_")), name
            assert len(skip["comment"]) >= 40, f"{name}: {skip['id']} needs a real reason"
