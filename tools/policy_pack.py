"""The policy pack as the Pulumi CLI runs it, and the Analyzer protocol spoken to it.

PolicyPackProcess starts a pack (policies/ unless told otherwise) exactly as the Pulumi CLI does
(`python -u -m pulumi.policy <engine-address> <pack-dir>` with PULUMI_CONFIG, PULUMI_PROJECT,
PULUMI_STACK and PULUMI_DRY_RUN set), reads the port it prints, makes the CLI's handshake
(GetAnalyzerInfo, Configure with the levels and settings `reconcile` works out, ConfigureStack) and
sends Resources through the Analyzer service (`Analyze` for one, `AnalyzeStack` for all, with
parents and dependencies), returning the pack's diagnostics as Violations.

Used by tools/check.py (the offline check) and by the tests of the pack's rules.
"""
from __future__ import annotations

import ctypes
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tools.offline import REPO, CapturedResource, engine_config

PACK_DIR = REPO / "policies"
ENGINE_ADDRESS = "127.0.0.1:1"
"""The CLI passes its engine's address; a Python pack never dials it (pulumi.policy only parses
the argument, and pulumi.log falls back to stderr), so a placeholder is enough offline."""
START_TIMEOUT_S = 60
RPC_TIMEOUT_S = 60

LEVEL_NAMES = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory",
               analyzer_pb2.REMEDIATE: "remediate", analyzer_pb2.DISABLED: "disabled"}
LEVEL_VALUES = {name: value for value, name in LEVEL_NAMES.items()}


class CheckError(Exception):
    """A problem with the arguments or inputs: reported without a traceback, exit 2.

    Defined here because `reconcile` raises it for a bad policy pack config; tools/check.py
    re-exports it and raises it for everything else."""


class PackError(Exception):
    """The policy pack failed to start or to answer."""


# --- what the analyzer sees -----------------------------------------------------------------

@dataclass
class Resource:
    urn: str
    type: str
    name: str
    properties: dict[str, Any]
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""
    protect: bool = False
    custom: bool = True

    @classmethod
    def from_captured(cls, r: CapturedResource) -> Resource:
        return cls(urn=r.urn, type=r.type, name=r.name, properties=r.inputs, parent=r.parent,
                   dependencies=list(r.dependencies), property_dependencies=dict(r.property_dependencies),
                   provider=r.provider, protect=r.protect, custom=r.custom)


@dataclass
class Violation:
    policy: str
    level: str
    message: str
    urn: str
    resource: str = ""
    type: str = ""

    @property
    def mandatory(self) -> bool:
        return self.level == "mandatory"

    def short_message(self) -> str:
        """The message without the `name (type): ` prefix and ` (rule)` suffix the group shows."""
        text = self.message
        prefix = f"{self.resource} ({self.type}): "
        if self.resource and text.startswith(prefix):
            text = text[len(prefix):]
        suffix = f" ({self.policy})"
        return text[:-len(suffix)] if text.endswith(suffix) else text


def _wire(value: Any) -> Any:
    """Plain captured data -> what the engine would send: unknowns as the engine's sentinel."""
    if isinstance(value, dict):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def _struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_wire(value))
    return struct


# --- the pack process -----------------------------------------------------------------------

def _die_with_parent():
    """A preexec_fn that makes the kernel send SIGTERM to the pack when its parent dies (Linux),
    so a check killed with SIGKILL (a CI timeout) never leaves a pack server running. The pack's
    server sleeps forever otherwise. None (no preexec_fn) elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return preexec


class PolicyPackProcess:
    """One running policy pack for one stack, started the way the Pulumi CLI starts it.

    Use as a context manager; the process is stopped on exit, whatever happens.
    """

    def __init__(self, config: dict[str, Any], project: str, stack: str, pack_dir: pathlib.Path = PACK_DIR,
                 pack_config: dict[str, Any] | None = None, python: str = sys.executable):
        self.config, self.project, self.stack = config, project, stack
        self.pack_dir, self.pack_config, self.python = pathlib.Path(pack_dir), pack_config, python
        self.process: subprocess.Popen | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.info: analyzer_pb2.AnalyzerInfo | None = None
        self.levels: dict[str, str] = {}
        self._stderr = tempfile.TemporaryFile()

    # The CLI's environment for a policy pack (constructEnv in pulumi's analyzer_plugin.go).
    def environment(self) -> dict[str, str]:
        return {**os.environ, "PULUMI_CONFIG": json.dumps(engine_config(self.config)),
                "PULUMI_PROJECT": self.project, "PULUMI_STACK": self.stack, "PULUMI_DRY_RUN": "true",
                "PULUMI_ORGANIZATION": "organization", "PYTHONDONTWRITEBYTECODE": "1"}

    def spawn(self) -> PolicyPackProcess:
        if self.process is None:
            self.process = subprocess.Popen(
                [self.python, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, str(self.pack_dir)],
                cwd=self.pack_dir, env=self.environment(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=self._stderr, preexec_fn=_die_with_parent())
        return self

    def __enter__(self) -> PolicyPackProcess:
        return self.spawn()

    def __exit__(self, *exc) -> None:
        self.close()

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()

    def _read_port(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            if time.monotonic() > deadline:
                raise PackError(f"the policy pack printed no port within {START_TIMEOUT_S} s")
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 64)
                if not chunk:
                    break
                line += chunk
            elif self.process.poll() is not None:
                break
        text = line.decode(errors="replace").strip()
        if not text.isdigit():
            try:
                code = self.process.wait(timeout=5)  # it closed stdout: it is exiting
            except subprocess.TimeoutExpired:
                code = None
            raise PackError(f"the policy pack in {self.pack_dir} did not start"
                            + (f" (exit {code})" if code is not None else "")
                            + (f": {text}" if text else "")
                            + (f"\n{self._stderr_text()}" if self._stderr_text() else ""))
        # Keep draining stdout so a chatty rule can never block the pack on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        return int(text)

    def connect(self) -> PolicyPackProcess:
        """Wait for the port, then the CLI's handshake: GetAnalyzerInfo, Configure, ConfigureStack.
        On any failure the process is stopped before the error propagates, so a caller that never
        reaches `close` (no `with` block) still leaves nothing running."""
        if self.stub is not None:
            return self
        try:
            return self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> PolicyPackProcess:
        self.spawn()
        port = self._read_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        request, self.levels = reconcile(self.info, self.pack_config)
        self._call("Configure", request)
        self._call("ConfigureStack", analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization="organization", dry_run=True,
            config=engine_config(self.config)))
        return self

    def _call(self, name: str, request):
        try:
            return getattr(self.stub, name)(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as err:
            detail = err.details() if hasattr(err, "details") else str(err)
            raise PackError(f"the policy pack failed to answer {name}: {detail}"
                            + (f"\n{self._stderr_text()}" if self._stderr_text() else "")) from None

    def close(self) -> None:
        self.stub = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    # --- the Analyzer service -----------------------------------------------------------

    def _options(self, r: Resource) -> analyzer_pb2.AnalyzerResourceOptions:
        return analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, parent=r.parent or "")

    @staticmethod
    def _provider(r: Resource, by_urn: dict[str, Resource]) -> analyzer_pb2.AnalyzerProviderResource | None:
        # A provider reference is `<provider urn>::<provider id>`.
        provider = by_urn.get(r.provider.rsplit("::", 1)[0]) if r.provider else None
        if provider is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(type=provider.type, properties=_struct(provider.properties),
                                                     urn=provider.urn, name=provider.name)

    def analyze(self, r: Resource, by_urn: dict[str, Resource] | None = None) -> list[Violation]:
        self.connect()
        provider = self._provider(r, by_urn or {})
        request = analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.properties), urn=r.urn, name=r.name,
                                              options=self._options(r), provider=provider)
        response = self._call("Analyze", request)
        return [self._violation(d, r) for d in response.diagnostics]

    def analyze_stack(self, resources: list[Resource]) -> list[Violation]:
        self.connect()
        by_urn = {r.urn: r for r in resources}
        request = analyzer_pb2.AnalyzeStackRequest(resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type, properties=_struct(r.properties), urn=r.urn, name=r.name, options=self._options(r),
                provider=self._provider(r, by_urn), parent=r.parent or "", dependencies=list(r.dependencies),
                propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v))
                                      for k, v in r.property_dependencies.items() if v})
            for r in resources])
        response = self._call("AnalyzeStack", request)
        return [self._violation(d, by_urn.get(d.urn)) for d in response.diagnostics]

    @staticmethod
    def _violation(d: analyzer_pb2.AnalyzeDiagnostic, resource: Resource | None) -> Violation:
        text = d.message
        if d.description and text.startswith(d.description + "\n"):
            text = text[len(d.description) + 1:]  # the pack prefixes the policy's description
        return Violation(policy=d.policyName, level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"), message=text,
                         urn=resource.urn if resource else d.urn, resource=resource.name if resource else "",
                         type=resource.type if resource else "")


_JSON_TYPES = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false"}


def _check_setting(policy: str, key: str, value: Any, schema: dict) -> None:
    """A setting against the policy's config schema, as the CLI validates a --policy-pack-config file
    (and stricter: an unknown setting is refused, so a misspelt one cannot be silently ignored)."""
    where = f"policy pack config {policy}.{key}"
    if key not in schema:
        known = ", ".join(["enforcementLevel", *sorted(schema)])
        raise CheckError(f"{where}: unknown setting; {policy} takes {known}")
    spec = schema[key] if isinstance(schema[key], dict) else {}
    kind = spec.get("type")
    ok = {"integer": isinstance(value, int) and not isinstance(value, bool)
                     or isinstance(value, float) and value.is_integer(),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool),
          "string": isinstance(value, str), "boolean": isinstance(value, bool)}.get(kind, True)
    if not ok:
        raise CheckError(f"{where}: found {json.dumps(value)}; expected {_JSON_TYPES.get(kind, kind)}")
    if "minimum" in spec and isinstance(value, (int, float)) and value < spec["minimum"]:
        raise CheckError(f"{where}: found {json.dumps(value)}; expected at least {spec['minimum']:g}")
    if "enum" in spec and value not in spec["enum"]:
        raise CheckError(f"{where}: found {json.dumps(value)}; allowed: {', '.join(map(str, spec['enum']))}")


def reconcile(info: analyzer_pb2.AnalyzerInfo, pack_config: dict[str, Any] | None
              ) -> tuple[analyzer_pb2.ConfigureAnalyzerRequest, dict[str, str]]:
    """What the CLI does before Configure: each policy's default level and schema defaults, then the
    pack's initial config, then a --policy-pack-config file ("all" first, then per policy)."""
    levels: dict[str, str] = {}
    props: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for policy in info.policies:
        levels[policy.name] = LEVEL_NAMES[policy.enforcementLevel]
        schema = json_format.MessageToDict(policy.configSchema.properties)
        schemas[policy.name] = schema
        props[policy.name] = {k: v["default"] for k, v in schema.items() if isinstance(v, dict) and "default" in v}
    for name, config in info.initialConfig.items():
        if name in levels:
            levels[name] = LEVEL_NAMES[config.enforcementLevel]
            props[name].update(json_format.MessageToDict(config.properties))
    config = dict(pack_config or {})
    strays = sorted(set(config) - set(levels) - {"all"})
    if strays:
        raise CheckError(f"policy pack config names unknown policies {', '.join(strays)}; "
                         f"policies: all, {', '.join(sorted(levels))}")

    def apply(name: str, value: Any) -> None:
        if not isinstance(value, (str, dict)):
            raise CheckError(f"policy pack config {name}: found {json.dumps(value)}; expected an enforcement level "
                             f"({', '.join(LEVEL_VALUES)}) or an object with enforcementLevel and settings")
        level = value if isinstance(value, str) else value.get("enforcementLevel")
        if level is not None:
            if level not in LEVEL_VALUES:
                raise CheckError(f"policy pack config {name}: enforcement level {level!r}; "
                                 f"allowed: {', '.join(LEVEL_VALUES)}")
            for target in (levels if name == "all" else [name]):
                levels[target] = level
        if isinstance(value, dict):
            settings = {k: v for k, v in value.items() if k != "enforcementLevel"}
            for key, setting in settings.items():
                _check_setting(name, key, setting, schemas.get(name, {}))
            if name != "all":
                props[name].update(settings)

    if "all" in config:
        apply("all", config.pop("all"))
    for name, value in config.items():
        apply(name, value)
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, level in levels.items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = LEVEL_VALUES[level]
        if props[name]:
            entry.properties.update(props[name])
    return request, levels
