"""The aws target's contract: ALB -> ECS Fargate gateway fleet -> ECS Fargate services."""
from __future__ import annotations

from ..phases import PHASES
from ..targets import NEUTRAL_KEYS, Target
from ..validation import Problems
from .gateway import config_size_problem
from .options import ALB_ALGORITHMS, check_aws_spec, parse_aws_options


def check_spec(spec, p: Problems) -> None:
    check_aws_spec(spec, p)
    if p.items:
        return  # the config is rendered from a valid spec only
    problem = config_size_problem(spec)
    if problem:
        p.add("services", f"{len(spec.services)} services", problem)


TARGET = Target(
    name="aws",
    default_region="us-east-1",
    phases=PHASES,
    phase_reason="",
    # ALB target-group algorithms; Service Connect is the mesh, so `mesh` stays none.
    algorithms={"none": ALB_ALGORITHMS},
    option_blocks=("aws",),
    parse_options=lambda blocks, p, spec: parse_aws_options(blocks["aws"], p, spec),
    check_spec=check_spec,
    builder=".aws.platform",
    honoured_keys=tuple(key for key in NEUTRAL_KEYS if key not in ("services.*.command", "mesh")),
    offline_mocks="tools.mocks.aws",
    makes_certificate=lambda raw: isinstance(raw.get("aws"), dict) and bool(raw["aws"].get("domain")),
    notes={"services.*.command": "ECS runs the image's own command; `command` is for the local target",
           "mesh": "ECS Service Connect connects the services; Istio and Linkerd run on the Kubernetes-based targets"},
)
