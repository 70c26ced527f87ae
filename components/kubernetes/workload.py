"""The pieces every workload shares: labels, a hardened container, probes, spreading, autoscaling.

Azure (AKS) and GCP (GKE) reuse these through the same components, so a hardening choice is
made once. Values are plain dicts in Kubernetes' own field names so what a reviewer reads here
is what `kubectl get -o yaml` shows.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ..gateway.nginx import PROXY_READ_TIMEOUT_S
from .args import InstanceRange, PodSettings, ProbeArgs

# A terminating pod leaves the Service's endpoints at once, but kube-proxy, ingress controllers and
# the gateway's resolver see that a few seconds later and keep sending it requests meanwhile. So
# it sleeps before it is asked to stop (preStop; the sleep action needs no shell: the backends'
# images may have none), then has the gateway's longest wait to finish what it has in flight.
PRE_STOP_SLEEP_S = 10
DRAIN_MARGIN_S = 5
TERMINATION_GRACE_S = PRE_STOP_SLEEP_S + PROXY_READ_TIMEOUT_S + DRAIN_MARGIN_S

# Non-root identities. nginx-unprivileged runs as 101; the demo backends declare no user,
# so they get the conventional "nonroot" id rather than silently running as root.
GATEWAY_UID = 101
SERVICE_UID = 65532

# Where nginx (and anything else) may write on an otherwise read-only root filesystem.
SCRATCH_MOUNT = "/tmp"


def child_options(component: pulumi.Resource, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """A child's options: parented to its component (which passes on its provider), and waiting for
    what the component waits for (Pulumi does not pass a component's depends_on to its children)."""
    return pulumi.ResourceOptions(parent=component, depends_on=(opts.depends_on if opts else None) or [])


def labels(common: dict[str, str], app: str, component: str) -> dict[str, str]:
    return {**common, "app": app, "component": component, "app.kubernetes.io/managed-by": "pulumi"}


def metadata(pods: PodSettings, name: str, app: str, component: str) -> dict:
    return {"name": name, "namespace": pods.namespace, "labels": labels(pods.labels, app, component)}


def http_probes(path: str, port: int, health: ProbeArgs) -> dict:
    """Readiness follows the load balancer's health check; liveness is slower to give up,
    so a busy instance is taken out of rotation long before it is restarted."""
    readiness = {"httpGet": {"path": path, "port": port}, "periodSeconds": health.interval_s,
                 "timeoutSeconds": health.timeout_s, "successThreshold": health.healthy_threshold,
                 "failureThreshold": health.unhealthy_threshold}
    liveness = {"httpGet": {"path": path, "port": port}, "periodSeconds": health.interval_s,
                "timeoutSeconds": health.timeout_s, "successThreshold": 1,
                "failureThreshold": health.unhealthy_threshold * 2}
    return {"readinessProbe": readiness, "livenessProbe": liveness}


def container(name: str, image: str, port: int, cpu_millicores: int, memory_mib: int,
              probes: dict, uid: int, **extra) -> dict:
    memory = f"{memory_mib}Mi"
    return {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        # A memory limit but no CPU limit: CPU throttling hurts tail latency, memory overuse kills nodes.
        "resources": {"requests": {"cpu": f"{cpu_millicores}m", "memory": memory},
                      "limits": {"memory": memory}},
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH_MOUNT}, *extra.pop("volumeMounts", [])],
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_S}}},
        **probes,
        **extra,
    }


def min_ready_seconds(probe: ProbeArgs) -> int:
    return probe.interval_s * probe.healthy_threshold


def pod_spec(pods: PodSettings, app: str, containers: list[dict], volumes: list[dict] | None = None) -> dict:
    spec: dict = {
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers,
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}, *(volumes or [])],
    }
    if pods.spread_min_zones is not None:
        spec["topologySpreadConstraints"] = spread_constraints(app, pods.spread_min_zones)
    return spec


def spread_constraints(app: str, min_zones: int) -> list[dict]:
    """prod: never all instances in one zone or on one host (the reference's single point of failure)."""
    selector = {"matchLabels": {"app": app}}
    return [
        {"topologyKey": "topology.kubernetes.io/zone", "maxSkew": 1, "minDomains": min_zones,
         "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector},
        {"topologyKey": "kubernetes.io/hostname", "maxSkew": 1,
         "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector},
    ]


def autoscaled_deployment(pods: PodSettings, resource_name: str, app: str, component: str,
                          instances: InstanceRange, pod: dict, child: pulumi.ResourceOptions,
                          pod_annotations: dict | None = None) -> tuple[k8s.apps.v1.Deployment, ...]:
    """Deployment + HorizontalPodAutoscaler + PodDisruptionBudget for one program."""
    meta = metadata(pods, app, app, component)
    deployment = k8s.apps.v1.Deployment(
        f"{resource_name}-deployment",
        metadata=meta,
        spec={
            # The HPA owns the replica count after creation; ignoring it below keeps a later
            # `pulumi up` from scaling a busy fleet back down to its minimum.
            "replicas": instances.min,
            "selector": {"matchLabels": {"app": app}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            # A new pod counts as available (and the rollout goes on) only after it has stayed ready
            # as long as the probes take to mark it healthy again: one flap does not pass.
            "minReadySeconds": min_ready_seconds(pods.probe),
            "template": {"metadata": {"labels": meta["labels"], "annotations": pod_annotations or {}},
                         "spec": pod},
        },
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(ignore_changes=["spec.replicas"])),
    )
    hpa = k8s.autoscaling.v2.HorizontalPodAutoscaler(
        f"{resource_name}-hpa",
        metadata=meta,
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
            "minReplicas": instances.min,
            "maxReplicas": instances.max,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": pods.hpa_cpu_utilization_percent}}}],
        },
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[deployment])),
    )
    resources: tuple = (deployment, hpa)
    # With one instance no budget can both allow an eviction and keep one ready; a budget
    # that blocks node drains is worse than none, so single-instance (dev) programs get none.
    if instances.min >= 2:
        pdb = k8s.policy.v1.PodDisruptionBudget(
            f"{resource_name}-pdb",
            metadata=meta,
            spec={"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}},
            opts=child,
        )
        resources += (pdb,)
    return resources


def cluster_service(pods: PodSettings, resource_name: str, app: str, component: str,
                    child: pulumi.ResourceOptions, service_port: int = 80) -> k8s.core.v1.Service:
    return k8s.core.v1.Service(
        f"{resource_name}-service",
        metadata=metadata(pods, app, app, component),
        spec={"type": "ClusterIP", "selector": {"app": app},
              "ports": [{"name": "http", "port": service_port, "targetPort": "http", "protocol": "TCP"}]},
        opts=child,
    )
