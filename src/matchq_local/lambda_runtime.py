"""Runs Lambda handlers in this process, the way the Lambda service would call them.

Each concurrent invocation of a function gets its own execution environment (its own
import of `app.py`), as in Lambda: module-level state such as powertools' resolver or
batch processor is never shared by two invocations running at the same time. The
packages those modules import (`matchq`, powertools) are shared, so what powertools keeps
process-wide, one invocation at a time in Lambda, is kept per thread here: its loggers'
keys and its event handler's current event (`keep_log_keys_per_thread`,
`keep_event_handler_state_per_thread`).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from matchq_local.template import ACCOUNT, REGION, FunctionSpec, LocalStack, physical_name

log = logging.getLogger("matchq.local")

Handler = Callable[[dict[str, Any], Any], Any]

# Set for every function locally: keep the console readable and X-Ray off.
LOCAL_RUNTIME_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}


class EnvironmentConflict(RuntimeError):
    """Two functions need different values of one variable, which one process cannot give."""


def shared_environment(functions: Iterable[FunctionSpec]) -> dict[str, str]:
    """The union of the functions' environments; fails loudly when they disagree."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for spec in functions:
        for key, value in spec.environment.items():
            if key in merged and merged[key] != value:
                raise EnvironmentConflict(
                    f"{key} is {merged[key]!r} for {owner[key]} but {value!r} for "
                    f"{spec.logical_id}; the local stack runs all functions in one process"
                )
            merged.setdefault(key, value)
            owner.setdefault(key, spec.logical_id)
    return merged


def runtime_environment(
    stack: LocalStack, extra: Mapping[str, str] | None = None, log_level: str = "WARNING"
) -> dict[str, str]:
    """Every variable the handlers of `stack` read, for one shared process."""
    env = shared_environment(stack.functions.values())
    env.update(LOCAL_RUNTIME_ENV)
    env["POWERTOOLS_LOG_LEVEL"] = log_level.upper()
    env.update(extra or {})
    return env


class _PerThreadKeys(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with its log keys held per thread.

    In Lambda a process runs one invocation at a time, so Powertools keeps the keys of
    `append_keys` and `inject_lambda_context` in the logger's one formatter. Here
    concurrent invocations are threads of one process: each thread gets keys of its own,
    starting from the logger's configured ones, and an invocation's `clear_state` resets
    only its own thread's keys.
    """

    @property
    def log_format(self) -> dict[str, Any]:
        local = self.__dict__["_thread_keys"]
        if not hasattr(local, "keys"):
            local.keys = dict(self.__dict__["_initial_keys"])
        return local.keys

    @log_format.setter
    def log_format(self, value: dict[str, Any]) -> None:
        self.__dict__["_thread_keys"].keys = value


def keep_log_keys_per_thread() -> None:
    """Give the formatter of every powertools logger of this process per-thread keys."""
    for candidate in list(logging.Logger.manager.loggerDict.values()):
        for handler in getattr(candidate, "handlers", []):
            formatter = handler.formatter
            if type(formatter) is LambdaPowertoolsFormatter:
                formatter.__dict__["_initial_keys"] = formatter.__dict__.pop("log_format")
                formatter.__dict__["_thread_keys"] = threading.local()
                formatter.__class__ = _PerThreadKeys


class _PerThreadValue:
    """A data descriptor whose value is kept per thread."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._local = threading.local()

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        try:
            return self._local.value
        except AttributeError:
            raise AttributeError(self._name) from None

    def __set__(self, obj: object, value: Any) -> None:
        self._local.value = value


def keep_event_handler_state_per_thread() -> None:
    """Give powertools' event handler its current event and context per thread.

    Powertools' resolvers share the request being handled through class attributes
    (`BaseRouter.current_event = ...` in `resolve()`): one request per process at a time in
    Lambda, but here two concurrent requests to two API functions would each read the
    other's event. Both attributes become per-thread values, on the class (read as
    `app.current_event`) and on its metaclass (assigned as `BaseRouter.current_event`).
    """
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    if isinstance(BaseRouter.__dict__.get("current_event"), _PerThreadValue):
        return
    values = {name: _PerThreadValue(name) for name in ("current_event", "lambda_context")}
    for name, value in values.items():
        setattr(BaseRouter, name, value)
    metaclass = type("PerThreadRouterMeta", (type(BaseRouter),), dict(values))
    BaseRouter.__class__ = metaclass  # type: ignore[method-assign]


@dataclass(eq=False)
class LambdaContext:
    """The context object handlers receive (the attributes of Lambda's Python runtime)."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or f"local/[$LATEST]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def expire(self) -> None:
        """Leave no time: handlers that watch the clock wind down (used at shutdown)."""
        self._deadline = time.monotonic()


def context_for(spec: FunctionSpec) -> LambdaContext:
    name = physical_name(spec.logical_id)
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=spec.memory_mb,
        timeout_seconds=spec.timeout,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
    )


_module_ids = itertools.count(1)


def load_handler(spec: FunctionSpec) -> Handler:
    """Import the function's handler module under a unique name and return the handler."""
    module_name, _, attribute = spec.handler.rpartition(".")
    path = spec.code_dir / (module_name.replace(".", "/") + ".py")
    unique = f"_matchq_fn_{spec.logical_id}_{next(_module_ids)}"
    module = _import_file(unique, path)
    keep_log_keys_per_thread()
    keep_event_handler_state_per_thread()
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"{path} has no callable {attribute!r} (Handler {spec.handler})")
    return handler  # type: ignore[no-any-return]


def _import_file(name: str, path: Path) -> ModuleType:
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


class LocalFunction:
    """One function of the template with a pool of warm execution environments."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._idle: list[Handler] = []
        self._running: set[LambdaContext] = set()
        self._lock = threading.Lock()

    def _acquire(self) -> Handler:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        started = time.perf_counter()
        handler = load_handler(self.spec)
        log.debug(
            "cold start of %s in %.0f ms",
            self.spec.logical_id,
            (time.perf_counter() - started) * 1000,
        )
        return handler

    def warm(self) -> None:
        """Load one environment ahead of the first request (a cold start at boot)."""
        handler = self._acquire()
        with self._lock:
            self._idle.append(handler)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call the handler with `event` and a fresh context; exceptions propagate."""
        handler = self._acquire()
        context = context_for(self.spec)
        with self._lock:
            self._running.add(context)
        try:
            return handler(event, context)
        finally:
            with self._lock:
                self._running.discard(context)
                self._idle.append(handler)

    def expire_running(self) -> int:
        """Tell running invocations their time is up; returns how many there were."""
        with self._lock:
            running = list(self._running)
        for context in running:
            context.expire()
        return len(running)


class FunctionRegistry:
    """The template's functions by logical id (folder names such as `get_job` work too)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self._functions = {name: LocalFunction(spec) for name, spec in stack.functions.items()}

    def __getitem__(self, name: str) -> LocalFunction:
        return self._functions[self.resolve_name(name)]

    def resolve_name(self, name: str) -> str:
        return resolve_function_name(self.stack, name)

    def warm(self, names: Iterable[str] | None = None) -> None:
        for name in names or self._functions:
            self[name].warm()


def resolve_function_name(stack: LocalStack, name: str) -> str:
    """A logical id from a logical id, a code folder name (`get_job`) or a physical name."""
    if name in stack.functions:
        return name
    wanted = name.strip("/").lower().replace("-", "_")
    for logical_id, spec in stack.functions.items():
        if wanted in {
            logical_id.lower(),
            spec.code_dir.name.lower(),
            physical_name(logical_id),
            f"{spec.code_dir.name}function".replace("_", "").lower(),
        }:
            return logical_id
    known = ", ".join(sorted(stack.functions))
    raise KeyError(f"no function {name!r} in template.yaml; known: {known}")
