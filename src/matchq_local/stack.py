"""The local stack as one process tree: AWS endpoint, gateway, worker pool and schedules."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from matchq_local.aws import (
    DEFAULT_AWS_PORT,
    LOOPBACK,
    MotoEndpoint,
    endpoint_alive,
    endpoint_url,
    session,
    use_endpoint,
)
from matchq_local.lambda_runtime import FunctionRegistry, runtime_environment
from matchq_local.provision import provision
from matchq_local.template import LocalStack, load_stack

log = logging.getLogger("matchq.local")

DEFAULT_PORT = 5000
DEFAULT_WORKERS = 2
API_BASE_PATH = "/api/v1"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, not {raw!r}") from exc


def parse_overrides(text: str) -> dict[str, str]:
    """`Key=Value Key2=Value2` (the form of `sam deploy --parameter-overrides`)."""
    overrides = {}
    for item in shlex.split(text):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"parameter override {item!r} is not Key=Value")
        overrides[key.removeprefix("ParameterKey=")] = value
    return overrides


@dataclass
class StackConfig:
    """Settings of `matchq serve`, from the environment (CONTRACT section 3)."""

    host: str = LOOPBACK
    port: int = DEFAULT_PORT
    aws_port: int = DEFAULT_AWS_PORT
    workers: int = DEFAULT_WORKERS
    maintenance_seconds: float | None = None
    log_level: str = "WARNING"
    parameters: dict[str, str] = field(default_factory=dict)
    jwt_secret: str | None = None

    @classmethod
    def from_env(cls) -> StackConfig:
        maintenance = os.environ.get("MATCHQ_MAINTENANCE_SECONDS", "").strip()
        workers = _int_env("MATCHQ_WORKERS", DEFAULT_WORKERS)
        if workers < 1:
            raise SystemExit("MATCHQ_WORKERS must be at least 1")
        return cls(
            host=os.environ.get("MATCHQ_HOST", "").strip() or LOOPBACK,
            port=_int_env("MATCHQ_PORT", DEFAULT_PORT),
            aws_port=_int_env("MATCHQ_AWS_PORT", DEFAULT_AWS_PORT),
            workers=workers,
            maintenance_seconds=float(maintenance) if maintenance else None,
            log_level=(os.environ.get("MATCHQ_LOG_LEVEL", "").strip() or "WARNING").upper(),
            parameters=parse_overrides(os.environ.get("MATCHQ_PARAMETER_OVERRIDES", "")),
        )


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
        sys.modules["matchq.settings"].get_settings.cache_clear()


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

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.moto: MotoEndpoint | None = None
        self.stack: LocalStack | None = None
        self.functions: FunctionRegistry | None = None
        self._gateway: Any = None
        self._pools: list[Any] = []
        self._schedules: list[Any] = []
        self.abandoned = 0

    @property
    def base_url(self) -> str:
        host = "localhost" if self.config.host in {LOOPBACK, "0.0.0.0", "::"} else self.config.host  # noqa: S104
        port = self._gateway.port if self._gateway else self.config.port
        return f"http://{host}:{port}{API_BASE_PATH}"

    def start(self) -> RunningStack:
        from matchq_local.gateway import Gateway, GatewayServer
        from matchq_local.scheduler import Schedule, rate_seconds
        from matchq_local.secret import local_jwt_secret
        from matchq_local.workers import WorkerPool, polled_queues

        config = self.config
        ensure_port_free(LOOPBACK, config.aws_port, "MATCHQ_AWS_PORT")
        ensure_port_free(config.host, config.port, "MATCHQ_PORT")
        self.moto = MotoEndpoint(config.aws_port).start()
        try:
            endpoint = self.moto.url
            use_endpoint(endpoint)
            self.stack = stack = load_stack(endpoint, parameters=config.parameters)
            provision(stack, session(endpoint))
            secret = config.jwt_secret or local_jwt_secret()
            prepare_runtime(
                stack,
                {"MATCHQ_WORKERS": str(config.workers), "MATCHQ_JWT_SECRET": secret},
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
                queues = polled_queues(stack, endpoint, name)
                self._pools.append(WorkerPool(functions[name], queues, sqs, config.workers).start())
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


def serve(config: StackConfig | None = None) -> int:
    """`matchq serve`: run until SIGINT or SIGTERM; 0 after a clean stop."""
    config = config or StackConfig.from_env()
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


def invoke(function: str, event: dict[str, Any], *, aws_port: int | None = None) -> Any:
    """`matchq invoke`: one function of the template with `event`, against the local endpoint.

    Uses the endpoint on MATCHQ_AWS_PORT when one answers; otherwise starts a temporary
    moto server with the template's resources for this one call.
    """
    from matchq_local.lambda_runtime import LocalFunction, resolve_function_name
    from matchq_local.secret import local_jwt_secret

    port = aws_port or _int_env("MATCHQ_AWS_PORT", DEFAULT_AWS_PORT)
    endpoint = endpoint_url(port)
    temporary: MotoEndpoint | None = None
    if not endpoint_alive(endpoint):
        temporary = MotoEndpoint(0).start()
        endpoint = temporary.url
    try:
        use_endpoint(endpoint)
        stack = load_stack(
            endpoint, parameters=parse_overrides(os.environ.get("MATCHQ_PARAMETER_OVERRIDES", ""))
        )
        if temporary is not None:
            provision(stack, session(endpoint))
        workers = str(_int_env("MATCHQ_WORKERS", DEFAULT_WORKERS))
        level = (os.environ.get("MATCHQ_LOG_LEVEL", "").strip() or "WARNING").upper()
        prepare_runtime(
            stack, {"MATCHQ_WORKERS": workers, "MATCHQ_JWT_SECRET": local_jwt_secret()}, level
        )
        return LocalFunction(stack.functions[resolve_function_name(stack, function)]).invoke(event)
    finally:
        if temporary is not None:
            temporary.stop()
