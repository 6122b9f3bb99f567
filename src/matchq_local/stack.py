"""The local stack as one process tree: AWS endpoint, gateway, worker pool and schedules.

What runs and how each part maps to template.yaml: docs/local-stack.md.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any

from matchq_local.aws import (
    ANY_HOST,
    LOOPBACK,
    MotoEndpoint,
    endpoint_url,
    missing_tables,
    session,
    use_endpoint,
)
from matchq_local.durable import DataDirInUse, Restored, StateStore, open_store
from matchq_local.lambda_runtime import FunctionRegistry, runtime_environment
from matchq_local.provision import provision
from matchq_local.settings import LocalSettings
from matchq_local.template import LocalStack, load_stack, physical_name

log = logging.getLogger("matchq.local")

API_BASE_PATH = "/api/v1"

# Set for the functions locally only: webhooks may call a receiver on this machine
# (http://127.0.0.1:PORT, http://localhost:PORT); the template never sets it.
LOCAL_FUNCTION_ENV = {"MATCHQ_WEBHOOKS_ALLOW_LOOPBACK": "1"}

# The settings' former name, kept for callers of `StackConfig.from_env()`.
StackConfig = LocalSettings


def stack_parameters(settings: LocalSettings, endpoint: str) -> dict[str, str]:
    """The template parameters of a local run: the overrides, and the local AWS endpoint.

    `AwsEndpointUrl` is the template's own means of pointing functions at an endpoint
    (as `sam local invoke --parameter-overrides` uses it), so the functions' environment
    here carries AWS_ENDPOINT_URL exactly as it would there.
    """
    return {**settings.template_overrides(), "AwsEndpointUrl": endpoint}


def configure_logging(level: str) -> None:
    """Local-stack lines on stderr; request lines only at INFO or DEBUG."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    local = logging.getLogger("matchq.local")
    local.handlers[:] = [handler]
    local.propagate = False
    local.setLevel(min(logging.INFO, logging.getLevelNamesMapping().get(level, logging.INFO)))
    access = logging.getLogger("matchq.local.access")
    access.setLevel(logging.getLevelNamesMapping().get(level, logging.WARNING))
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import warnings

    # powertools warns on every invocation that publishes no metrics
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def prepare_runtime(stack: LocalStack, extra: dict[str, str], log_level: str) -> None:
    """Give this process the handlers' environment, and forget settings read before."""
    os.environ.update(runtime_environment(stack, extra, log_level))
    if "matchq.services.wiring" in sys.modules:
        sys.modules["matchq.services.wiring"].reset()
    elif "matchq.settings" in sys.modules:
        sys.modules["matchq.settings"].forget_settings()


def ensure_port_free(host: str, port: int, variable: str) -> None:
    """Fail with one line when `port` is taken (werkzeug would print its own advice and exit)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"matchq serve: cannot listen on {host}:{port} ({exc.strerror}); "
                f"is another local stack running? Set {variable}"
            ) from exc


class RunningStack:
    """Starts and stops the parts of the local stack in order."""

    def __init__(self, config: LocalSettings) -> None:
        self.config = config
        self.moto: MotoEndpoint | None = None
        self.store: StateStore | None = None
        self.restored: Restored | None = None
        self.stack: LocalStack | None = None
        self.functions: FunctionRegistry | None = None
        self._gateway: Any = None
        self._pools: list[Any] = []
        self._schedules: list[Any] = []
        self.abandoned = 0

    @property
    def base_url(self) -> str:
        host = "localhost" if self.config.host in {LOOPBACK, *ANY_HOST} else self.config.host
        port = self._gateway.port if self._gateway else self.config.port
        return f"http://{host}:{port}{API_BASE_PATH}"

    @property
    def console_url(self) -> str | None:
        """The web console's address (`GET /` of the template), None without that route."""
        if self.stack is None or not any(
            r.method == "GET" and r.path == "/" for r in self.stack.routes
        ):
            return None
        return self.base_url.removesuffix(API_BASE_PATH) + "/"

    def start(self) -> RunningStack:
        from matchq_local.gateway import Gateway, GatewayServer
        from matchq_local.scheduler import Schedule, rate_seconds
        from matchq_local.secret import local_jwt_secret
        from matchq_local.slots import SlotProcesses
        from matchq_local.workers import WorkerPool, polled_queues

        config = self.config
        ensure_port_free(config.host, config.aws_port, "MATCHQ_AWS_PORT")
        ensure_port_free(config.host, config.port, "MATCHQ_PORT")
        try:
            self.store = open_store(config.data_dir)
        except DataDirInUse as exc:
            raise SystemExit(str(exc)) from None
        except (OSError, RuntimeError) as exc:
            raise SystemExit(f"MATCHQ_DATA_DIR={config.data_dir}: {exc}") from None
        try:
            self.moto = MotoEndpoint(config.aws_port, config.host, store=self.store).start()
            endpoint = self.moto.url
            use_endpoint(endpoint)
            parameters = stack_parameters(config, endpoint)
            self.stack = stack = load_stack(endpoint, parameters=parameters)
            provision(stack, session(endpoint))
            if self.store is not None:
                self.restored = restored = self.store.restore()
                log.info(
                    "restored %d items, %d objects (%d bytes) and %d messages in %.2f s",
                    restored.items,
                    restored.objects,
                    restored.object_bytes,
                    restored.messages,
                    restored.seconds,
                )
            secret = local_jwt_secret(config)
            prepare_runtime(
                stack,
                {
                    "MATCHQ_WORKERS": str(config.workers),
                    "MATCHQ_JWT_SECRET": secret,
                    **LOCAL_FUNCTION_ENV,
                },
                config.log_level,
            )
            self.functions = functions = FunctionRegistry(stack)
            functions.warm(
                [r.function for r in stack.routes]
                + [a.function for a in stack.authorizers.values()]
            )
            gateway = Gateway(stack, functions)
            self._gateway = GatewayServer(gateway, config.host, config.port).start()
            sqs = session(endpoint).client("sqs")
            for name in sorted({source.function for source in stack.event_sources}):
                # The job worker (fed by the priority queues) gets MATCHQ_WORKERS slots; a
                # function fed by one queue (notifications, webhook deliveries) one slot.
                feeds = sum(1 for source in stack.event_sources if source.function == name)
                slots = config.workers if feeds > 1 else 1
                if config.slots == "processes":
                    pool: Any = SlotProcesses(
                        name,
                        endpoint=endpoint,
                        parameters=parameters,
                        slots=slots,
                        log_level=config.log_level,
                    )
                else:
                    queues = polled_queues(stack, endpoint, name)
                    pool = WorkerPool(functions[name], queues, sqs, slots)
                self._pools.append(pool.start())
            for name, expression in stack.schedules.items():
                interval = config.maintenance_seconds or rate_seconds(expression)
                if interval is None:
                    log.warning(
                        "%s: schedule %s is not run locally; set MATCHQ_MAINTENANCE_SECONDS",
                        name,
                        expression,
                    )
                    continue
                self._schedules.append(Schedule(functions[name], interval).start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop accepting requests, stop the timers and workers, then the AWS endpoint."""
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        for schedule in self._schedules:
            schedule.stop()
        self._schedules.clear()
        for pool in self._pools:
            left = pool.stop(grace_seconds)
            if left:
                log.warning("stopping with %d job(s) still running; they are abandoned", left)
                self.abandoned += left
        self._pools.clear()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self.store is not None:
            self.store.close()
            self.store = None


def serve(config: LocalSettings | None = None) -> int:
    """`matchq serve`: run until SIGINT or SIGTERM; 0 after a clean stop."""
    config = config or LocalSettings.from_env()
    configure_logging(config.log_level)
    stop = threading.Event()

    def _signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    running = RunningStack(config)
    try:
        running.start()
        assert running.moto is not None
        print(
            f"matchq local stack ready at {running.base_url} "
            f"(AWS endpoint {running.moto.url}, {config.workers} worker slot(s); Ctrl-C stops)",
            flush=True,
        )
        if running.console_url:
            # The URL only: `matchq console` prints one that signs in (a token in the log
            # would outlive it).
            print(
                f"web console at {running.console_url} "
                "(sign in with a token: `matchq console` prints a link that does)",
                flush=True,
            )
        while not stop.wait(1.0):
            pass
        print("stopping", file=sys.stderr, flush=True)
    finally:
        running.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if running.abandoned:
        # A thread inside native matching code must not meet interpreter finalization.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def invoke(
    function: str,
    event: dict[str, Any],
    *,
    aws_port: int | None = None,
    settings: LocalSettings | None = None,
) -> Any:
    """`matchq invoke`: one function of the template with `event`, against the local endpoint.

    Uses the local stack's AWS endpoint (MATCHQ_AWS_PORT) when it answers with the
    template's table; otherwise says so on stderr and starts a temporary endpoint with
    the template's resources, empty, for this one call.
    """
    from matchq_local.lambda_runtime import LocalFunction, resolve_function_name
    from matchq_local.secret import local_jwt_secret

    settings = settings or LocalSettings.from_env()
    endpoint = endpoint_url(aws_port or settings.aws_port)
    stack = load_stack(endpoint, parameters=stack_parameters(settings, endpoint))
    tables = [physical_name(name) for name in stack.of_type("AWS::DynamoDB::Table")]
    temporary: MotoEndpoint | None = None
    if (problem := missing_tables(endpoint, tables)) is not None:
        print(
            f"matchq invoke: {problem}: no local stack there (start one with `make run`); "
            "using a temporary AWS endpoint whose resources are empty",
            file=sys.stderr,
            flush=True,
        )
        temporary = MotoEndpoint(0).start()
        endpoint = temporary.url
        stack = load_stack(endpoint, parameters=stack_parameters(settings, endpoint))
    try:
        use_endpoint(endpoint)
        if temporary is not None:
            provision(stack, session(endpoint))
        prepare_runtime(
            stack,
            {
                "MATCHQ_WORKERS": str(settings.workers),
                "MATCHQ_JWT_SECRET": local_jwt_secret(settings),
                **LOCAL_FUNCTION_ENV,
            },
            settings.log_level,
        )
        return LocalFunction(stack.functions[resolve_function_name(stack, function)]).invoke(event)
    finally:
        if temporary is not None:
            temporary.stop()
