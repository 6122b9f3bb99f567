"""What template.yaml promises: routes, auth, queues, table, bucket, layers, permissions.

The template is checked twice: as written (SAM resources, parameters) and after the SAM
transform, done offline with `samtranslator`, which is what CloudFormation deploys and
what the local stack reads.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# (method, path, function logical id, code folder): every route of the API.
ROUTES = [
    ("POST", "/api/v1/jobs/submit", "SubmitJobFunction", "submit_job"),
    ("GET", "/api/v1/jobs/list", "ListJobsFunction", "list_jobs"),
    ("GET", "/api/v1/jobs/{job_id}", "GetJobFunction", "get_job"),
    ("POST", "/api/v1/jobs/{job_id}/cancel", "CancelJobFunction", "cancel_job"),
    ("DELETE", "/api/v1/jobs/{job_id}", "DeleteJobFunction", "delete_job"),
    ("GET", "/api/v1/jobs/stats", "JobStatsFunction", "job_stats"),
    ("POST", "/api/v1/jobs/cleanup", "CleanupJobsFunction", "cleanup_jobs"),
    ("POST", "/api/v1/files", "CreateUploadFunction", "create_upload"),
    ("GET", "/api/v1/jobs/{job_id}/results", "JobResultsFunction", "job_results"),
]
API_FUNCTIONS = [route[2] for route in ROUTES]
ALL_FUNCTIONS = [*API_FUNCTIONS, "AuthorizerFunction", "WorkerFunction", "MaintenanceFunction"]
PRIORITIES = ["Low", "Normal", "High", "Urgent"]  # priority 1..4
QUEUES = [f"{p}Queue" for p in PRIORITIES]
GLOBAL_ENV = [
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "MATCHQ_TABLE_NAME",
    "MATCHQ_BUCKET_NAME",
    "MATCHQ_QUEUE_URL_LOW",
    "MATCHQ_QUEUE_URL_NORMAL",
    "MATCHQ_QUEUE_URL_HIGH",
    "MATCHQ_QUEUE_URL_URGENT",
    "MATCHQ_WORKER_CONCURRENCY",
    "MATCHQ_RETENTION_HOURS",
    "MATCHQ_MAX_UPLOAD_BYTES",
    "MATCHQ_MAX_ATTEMPTS",
    "MATCHQ_HEARTBEAT_TIMEOUT_SECONDS",
]


class _NoManagedPolicies:
    """Managed policy loader for an offline transform (SAM's bundled map covers ours)."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text(encoding="utf-8"))


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


# ----------------------------------------------------------------------------- transform


def test_template_transforms_offline(transformed: dict[str, Any]) -> None:
    assert "Transform" not in transformed
    assert transformed["Resources"]


def test_every_function_has_its_code_folder_and_the_lambda_handler(
    template: dict[str, Any],
) -> None:
    for function in ALL_FUNCTIONS:
        props = template["Resources"][function]["Properties"]
        folder = props["CodeUri"].strip("/")
        assert folder.startswith("functions/")
        assert (ROOT / folder / "app.py").is_file(), f"{folder}/app.py is missing"
    assert template["Globals"]["Function"]["Handler"] == "app.lambda_handler"


# ----------------------------------------------------------------------------- globals


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_functions_run_python313_on_arm64_with_tracing(
    resources: dict[str, Any], function: str
) -> None:
    props = resources[function]["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Handler"] == "app.lambda_handler"


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_functions_get_the_shared_environment(resources: dict[str, Any], function: str) -> None:
    env = resources[function]["Properties"]["Environment"]["Variables"]
    assert set(GLOBAL_ENV) <= set(env)
    assert env["POWERTOOLS_SERVICE_NAME"] == "matchq"
    assert env["MATCHQ_TABLE_NAME"] == {"Ref": "JobsTable"}
    assert env["MATCHQ_BUCKET_NAME"] == {"Ref": "DataBucket"}
    for priority in PRIORITIES:
        assert env[f"MATCHQ_QUEUE_URL_{priority.upper()}"] == {"Ref": f"{priority}Queue"}
    assert env["MATCHQ_WORKER_CONCURRENCY"] == {
        "Fn::Sub": ",".join(f"${{WorkerConcurrency{p}}}" for p in PRIORITIES)
    }


def test_api_functions_use_the_global_size_and_timeout(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    assert glob["MemorySize"] == 512
    assert glob["Timeout"] == 29
    for function in API_FUNCTIONS:
        props = template["Resources"][function]["Properties"]
        assert "Timeout" not in props
        assert "MemorySize" not in props


def test_parameter_defaults_match_the_contract(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["LogLevel"]["Default"] == "INFO"
    assert params["JwtAlgorithms"]["Default"] == "HS256"
    assert "none" not in params["JwtAlgorithms"]["AllowedPattern"].lower()
    retention = params["RetentionHours"]
    assert (retention["Default"], retention["MinValue"], retention["MaxValue"]) == (24, 1, 168)
    assert params["MaxUploadBytes"]["Default"] == 104_857_600
    assert params["MaxAttempts"]["Default"] == 3
    assert params["HeartbeatTimeoutSeconds"]["Default"] == 300
    assert params["ApiThrottleRate"]["Default"] == 50
    assert params["ApiThrottleBurst"]["Default"] == 100
    for name in ("JwtSecretArn", "JwtSecretParameter", "JwksUrl", "JwtIssuer", "JwtAudience"):
        assert params[name]["Default"] == ""


# ----------------------------------------------------------------------------- API


@pytest.mark.parametrize(("method", "path", "function", "folder"), ROUTES)
def test_route_exists_behind_the_jwt_authorizer(
    api_body: dict[str, Any], method: str, path: str, function: str, folder: str
) -> None:
    operation = api_body["paths"][path][method.lower()]
    assert operation["security"] == [{"JwtAuthorizer": []}]
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert f"${{{function}.Arn}}" in as_text(integration["uri"])


@pytest.mark.parametrize(("method", "path", "function", "folder"), ROUTES)
def test_route_function_is_built_from_its_folder(
    template: dict[str, Any], method: str, path: str, function: str, folder: str
) -> None:
    props = template["Resources"][function]["Properties"]
    assert props["CodeUri"].strip("/") == f"functions/{folder}"
    events = [e for e in props["Events"].values() if e["Type"] == "Api"]
    assert [(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events] == [
        (method, path)
    ]
    assert events[0]["Properties"]["RestApiId"] == {"Ref": "MatchqApi"}


def test_api_has_exactly_the_listed_routes_plus_cors_preflight(api_body: dict[str, Any]) -> None:
    routes = {
        (method.upper(), path)
        for path, item in api_body["paths"].items()
        for method in item
        if method != "options"
    }
    assert routes == {(method, path) for method, path, _, _ in ROUTES}
    for path, item in api_body["paths"].items():
        assert "security" not in item["options"], f"preflight of {path} must not need a token"


def test_authorizer_is_an_uncached_request_authorizer_without_identity_sources(
    api_body: dict[str, Any],
) -> None:
    scheme = api_body["components"]["securitySchemes"]["JwtAuthorizer"]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["authorizerResultTtlInSeconds"] == 0
    # Without identity sources API Gateway calls the authorizer even with no header,
    # so every 401 carries the API's error body.
    assert "identitySource" not in authorizer
    assert "${__FunctionArn__}" in as_text(authorizer["authorizerUri"])
    assert "AuthorizerFunction" in as_text(authorizer["authorizerUri"])


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("ACCESS_DENIED", "401"),
        ("UNAUTHORIZED", "401"),
        ("AUTHORIZER_FAILURE", "500"),
        ("DEFAULT_4XX", None),
        ("DEFAULT_5XX", None),
    ],
)
def test_gateway_responses_use_the_error_shape_with_cors(
    api_body: dict[str, Any], response_type: str, status: str | None
) -> None:
    response = api_body["x-amazon-apigateway-gateway-responses"][response_type]
    assert response.get("statusCode") == status
    body = json.loads(response["responseTemplates"]["application/json"])
    assert set(body) == {"error", "details", "timestamp"}
    headers = response["responseParameters"]
    assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"


def test_access_denied_carries_the_authorizer_context(api_body: dict[str, Any]) -> None:
    response = api_body["x-amazon-apigateway-gateway-responses"]["ACCESS_DENIED"]
    body = json.loads(response["responseTemplates"]["application/json"])
    assert body == {
        "error": "Unauthorized",
        "details": "$context.authorizer.details",
        "timestamp": "$context.authorizer.timestamp",
    }


def test_api_stage_is_prod_traced_and_throttled(resources: dict[str, Any]) -> None:
    stages = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert len(stages) == 1
    props = stages[0]["Properties"]
    assert props["StageName"] == "prod"
    assert props["TracingEnabled"] is True
    (setting,) = props["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRate"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurst"}


def test_authorizer_gets_its_settings_and_reads_the_secret_only_when_configured(
    resources: dict[str, Any],
) -> None:
    env = resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    for var, param in [
        ("MATCHQ_JWT_SECRET_ARN", "JwtSecretArn"),
        ("MATCHQ_JWT_SECRET_PARAMETER", "JwtSecretParameter"),
        ("MATCHQ_JWKS_URL", "JwksUrl"),
        ("MATCHQ_JWT_ISSUER", "JwtIssuer"),
        ("MATCHQ_JWT_AUDIENCE", "JwtAudience"),
        ("MATCHQ_JWT_ALGORITHMS", "JwtAlgorithms"),
    ]:
        assert env[var] == {"Ref": param}
    policies = resources["AuthorizerFunctionRole"]["Properties"]["Policies"]
    conditions = sorted(p["Fn::If"][0] for p in policies)
    assert conditions == ["HasJwtSecretArn", "HasJwtSecretParameter"]
    assert all(p["Fn::If"][2] == {"Ref": "AWS::NoValue"} for p in policies)
    assert "Events" not in resources["AuthorizerFunction"]["Properties"]


# ----------------------------------------------------------------------------- layers


def test_layers_build_for_python313_arm64(template: dict[str, Any]) -> None:
    for name, folder in [("SharedLayer", "shared"), ("MatchingLayer", "layers/matching")]:
        layer = template["Resources"][name]
        assert layer["Type"] == "AWS::Serverless::LayerVersion"
        assert layer["Properties"]["ContentUri"].strip("/") == folder
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
        assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}


@pytest.mark.parametrize("function", [f for f in ALL_FUNCTIONS if f != "WorkerFunction"])
def test_only_the_shared_layer_outside_the_worker(resources: dict[str, Any], function: str) -> None:
    assert resources[function]["Properties"]["Layers"] == [
        {"Ref": layer_id(resources, "SharedLayer")}
    ]


def test_worker_has_the_shared_and_matching_layers_once_each(resources: dict[str, Any]) -> None:
    assert resources["WorkerFunction"]["Properties"]["Layers"] == [
        {"Ref": layer_id(resources, "SharedLayer")},
        {"Ref": layer_id(resources, "MatchingLayer")},
    ]


# ----------------------------------------------------------------------------- worker


def test_worker_size_timeout_and_scratch_space(template: dict[str, Any]) -> None:
    props = template["Resources"]["WorkerFunction"]["Properties"]
    assert default(template, props["Timeout"]) == 900
    assert default(template, props["MemorySize"]) == 3008
    assert props["EphemeralStorage"] == {"Size": 4096}


@pytest.mark.parametrize("priority", PRIORITIES)
def test_each_queue_feeds_the_worker_one_message_at_a_time(
    resources: dict[str, Any], priority: str
) -> None:
    mapping = resources[f"WorkerFunction{priority}QueueEvent"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [f"{priority}Queue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": "WorkerFunction"}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": f"WorkerConcurrency{priority}"}


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
    assert limits == [2, 3, 5, 10]
    for p in PRIORITIES:
        param = template["Parameters"][f"WorkerConcurrency{p}"]
        assert (param["MinValue"], param["MaxValue"]) == (2, 1000)  # Lambda's own bounds


def test_only_the_four_queues_feed_the_worker(resources: dict[str, Any]) -> None:
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == 4


# ----------------------------------------------------------------------------- queues


@pytest.mark.parametrize("priority", PRIORITIES)
def test_queue_has_its_own_dead_letter_queue(resources: dict[str, Any], priority: str) -> None:
    queue = resources[f"{priority}Queue"]
    dlq = resources[f"{priority}DeadLetterQueue"]
    assert queue["Type"] == dlq["Type"] == "AWS::SQS::Queue"
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [f"{priority}DeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert dlq["Properties"]["MessageRetentionPeriod"] == 1_209_600
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert dlq["Properties"]["SqsManagedSseEnabled"] is True


def test_max_receive_count_defaults_to_three(template: dict[str, Any]) -> None:
    assert template["Parameters"]["MaxReceiveCount"]["Default"] == 3


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


# ----------------------------------------------------------------------------- table


def test_jobs_table_is_on_demand_recoverable_encrypted_and_expiring(
    resources: dict[str, Any],
) -> None:
    props = resources["JobsTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]


def test_jobs_table_has_the_query_indexes(resources: dict[str, Any]) -> None:
    props = resources["JobsTable"]["Properties"]
    indexes = {
        index["IndexName"]: (
            [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]],
            index["Projection"]["ProjectionType"],
        )
        for index in props["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        name: ([(hash_key, "HASH"), ("created_key", "RANGE")], "ALL")
        for name, hash_key in [
            ("by-user", "user_id"),
            ("by-status", "status"),
            ("by-user-status", "user_status"),
            ("by-created", "entity"),
        ]
    }
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == dict.fromkeys(
        ["job_id", "user_id", "status", "user_status", "entity", "created_key"], "S"
    )


# ----------------------------------------------------------------------------- bucket


def test_bucket_is_encrypted_private_and_owner_enforced(resources: dict[str, Any]) -> None:
    props = resources["DataBucket"]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_bucket_expires_uploads_results_and_abandoned_multipart_uploads(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    rules = resources["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    expiry = {
        rule["Prefix"]: default(template, rule["ExpirationInDays"])
        for rule in rules
        if "ExpirationInDays" in rule
    }
    assert expiry == {"uploads/": 7, "results/": 30}
    aborts = [
        r["AbortIncompleteMultipartUpload"] for r in rules if "AbortIncompleteMultipartUpload" in r
    ]
    assert aborts == [{"DaysAfterInitiation": 1}]


def test_bucket_accepts_browser_uploads_and_downloads(resources: dict[str, Any]) -> None:
    (rule,) = resources["DataBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert {"POST", "GET"} <= set(rule["AllowedMethods"])
    assert rule["AllowedOrigins"] == ["*"]


def test_bucket_policy_denies_requests_without_tls(resources: dict[str, Any]) -> None:
    policy = resources["DataBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "DataBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
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


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("SubmitJobFunction", {("s3:GetObject", "uploads")}),
        ("ListJobsFunction", set()),
        ("GetJobFunction", set()),
        ("CancelJobFunction", set()),
        ("DeleteJobFunction", {("s3:DeleteObject", "results")}),
        ("JobStatsFunction", set()),
        ("CleanupJobsFunction", {("s3:DeleteObject", "results")}),
        ("CreateUploadFunction", {("s3:PutObject", "uploads")}),
        ("JobResultsFunction", {("s3:GetObject", "results")}),
        ("AuthorizerFunction", set()),
        ("MaintenanceFunction", {("s3:DeleteObject", "results")}),
        (
            "WorkerFunction",
            {
                ("s3:GetObject", "uploads"),
                ("s3:GetObject", "results"),
                ("s3:PutObject", "results"),
                ("s3:DeleteObject", "results"),
                ("s3:AbortMultipartUpload", "results"),
            },
        ),
    ],
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


# The table calls each function's code makes (matchq.dal.jobs): every table user reads
# (GetItem, Query), and writes only what its code path needs. Nobody gets Scan or Batch*.
TABLE_READS = {"dynamodb:GetItem", "dynamodb:Query"}
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
}


@pytest.mark.parametrize(("function", "writes"), TABLE_WRITES.items())
def test_table_access_per_function(
    resources: dict[str, Any], function: str, writes: set[str]
) -> None:
    statements = granted(resources, function, "dynamodb:")
    assert statements, f"{function} cannot reach the table"
    table_actions = {a for s in statements for a in actions(s)}
    assert table_actions == TABLE_READS | writes
    for statement in statements:
        assert "JobsTable" in as_text(statement["Resource"])
        if set(actions(statement)) & WRITE_ACTIONS:
            # Writes go to the table itself, never to an index.
            assert statement["Resource"] == {"Fn::GetAtt": ["JobsTable", "Arn"]}


@pytest.mark.parametrize("function", ["AuthorizerFunction", "CreateUploadFunction"])
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
    [f for f in API_FUNCTIONS if f != "SubmitJobFunction"] + ["AuthorizerFunction"],
)
def test_other_api_functions_cannot_touch_the_queues(
    resources: dict[str, Any], function: str
) -> None:
    assert granted(resources, function, "sqs:") == []


# ----------------------------------------------------------------------------- maintenance


def test_maintenance_runs_on_a_schedule(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    (rule,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Events::Rule"
        and r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["MaintenanceFunction", "Arn"]}
    ]
    assert rule["Properties"]["State"] == "ENABLED"
    assert default(template, rule["Properties"]["ScheduleExpression"]) == "rate(5 minutes)"
    assert resources["MaintenanceFunction"]["Properties"]["Timeout"] == 300


# ----------------------------------------------------------------------------- outputs


def test_outputs_name_the_api_bucket_table_and_queues(transformed: dict[str, Any]) -> None:
    outputs = transformed["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${MatchqApi}.execute-api.${AWS::Region}.amazonaws.com/prod/api/v1"
    }
    assert outputs["BucketName"]["Value"] == {"Ref": "DataBucket"}
    assert outputs["TableName"]["Value"] == {"Ref": "JobsTable"}
    for queue in QUEUES:
        assert outputs[f"{queue}Url"]["Value"] == {"Ref": queue}


def test_alarm_topic_is_an_output(transformed: dict[str, Any]) -> None:
    assert transformed["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


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


@pytest.mark.parametrize("function", [f for f in ALL_FUNCTIONS if f != "WorkerFunction"])
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


def test_log_retention_parameter_defaults_to_30_days(template: dict[str, Any]) -> None:
    param = template["Parameters"]["LogRetentionDays"]
    assert param["Default"] == 30
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
    assert len(found) == 12
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


def test_maintenance_knows_the_expected_job_duration(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    env = resources["MaintenanceFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MATCHQ_EXPECTED_JOB_SECONDS"] == {"Ref": "ExpectedJobSeconds"}
    assert template["Parameters"]["ExpectedJobSeconds"]["Default"] == 600


def test_alarm_email_subscription_only_when_an_address_is_given(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
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


def test_local_stack_loads_the_template_with_logs_and_alarms() -> None:
    from matchq_local.template import load_stack

    stack = load_stack("http://localhost:5001")
    assert set(stack.functions) == set(ALL_FUNCTIONS)
    assert "AlarmEmailSubscription" not in stack.resources
    with_email = load_stack("http://localhost:5001", parameters={"AlarmEmail": "ops@example.com"})
    assert with_email.resources["AlarmEmailSubscription"]["Properties"]["Endpoint"] == (
        "ops@example.com"
    )


# ----------------------------------------------------------------------------- scanner


def test_every_scanner_suppression_names_a_check_and_a_reason(template: dict[str, Any]) -> None:
    for name, resource in template["Resources"].items():
        skips = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        for skip in skips:
            assert set(skip) == {"id", "comment"}, name
            assert skip["id"].startswith(("CKV_AWS_", "CKV2_AWS_")), name
            assert len(skip["comment"]) >= 40, f"{name}: {skip['id']} needs a real reason"
