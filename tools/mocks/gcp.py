"""Fake GCP answers for the offline plan: the gcp target's contract names this module, and
tools/offline.py loads its MOCK_OUTPUTS and MOCK_CALLS.

Under mocks a resource's outputs are its inputs; what GCP computes is filled in here, shaped like
the real values: ids (`projects/<p>/global/<collection>/<name>`), self links, generated names,
the service account's email, the global address, the cluster's endpoint and CA, the region's zones.
Nothing here is real: the addresses are documentation ones.
"""
from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

ADDRESS = "203.0.113.30"      # TEST-NET-3
ENDPOINT = "203.0.113.20"
API = "https://www.googleapis.com/compute/v1"
# What getZones answers per region (zones in the UP state); other regions get -a, -b, -c.
ZONES = {"europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
         "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"]}
_state = {"project": "offline-project", "region": "europe-west1"}


def _hex(name: str, length: int = 7) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:length]


def _provider(args) -> dict:
    # The explicit provider registers first: remember its project and region for the fakes.
    _state["project"] = args.inputs.get("project") or _state["project"]
    _state["region"] = args.inputs.get("region") or _state["region"]
    return {}


def _project(args) -> str:
    return args.inputs.get("project") or _state["project"]


def _named(collection: str, scope: str = "global", name_key: str = "name") -> Callable:
    """A resource in `collection` (networks, backendServices) at `scope`: global, regions or zones."""
    def outputs(args) -> dict:
        name = args.inputs.get(name_key) or f"{args.name}-{_hex(args.name)}"
        where = "global" if scope == "global" else f"regions/{args.inputs.get('region') or _state['region']}"
        resource_id = f"projects/{_project(args)}/{where}/{collection}/{name}"
        return {"id": resource_id, "name": name, "selfLink": f"{API}/{resource_id}"}
    return outputs


def _account(args) -> dict:
    account = args.inputs["accountId"]
    email = f"{account}@{_project(args)}.iam.gserviceaccount.com"
    return {"id": f"projects/{_project(args)}/serviceAccounts/{email}", "email": email, "name": email,
            "member": f"serviceAccount:{email}", "uniqueId": str(int(_hex(account, 12), 16))}


def _cluster(args) -> dict:
    name, location = args.inputs["name"], args.inputs["location"]
    resource_id = f"projects/{_project(args)}/locations/{location}/clusters/{name}"
    return {"id": resource_id, "selfLink": f"https://container.googleapis.com/v1/{resource_id}", "endpoint": ENDPOINT,
            "masterAuth": {"clusterCaCertificate": base64.b64encode(b"offline CA").decode(),
                           "clientCertificateConfig": {"issueClientCertificate": False}}}


def _node_pool(args) -> dict:
    return {"id": f"{args.inputs['cluster']}/nodePools/{args.inputs.get('name') or args.name}"}


PROJECT_NUMBER = "314159265358"
"""What getProject answers as every project's number (workload identity principals name the pool by it)."""


def _secret(args) -> dict:
    """A Secret Manager secret: Google names it by the project's number."""
    secret = args.inputs.get("secretId") or args.name
    return {"id": f"projects/{_project(args)}/secrets/{secret}", "name": f"projects/{PROJECT_NUMBER}/secrets/{secret}",
            "secretId": secret}


def _secret_version(args) -> dict:
    """A secret's version: its resource name, which pins what the add-on mounts. Google never answers with the
    value."""
    secret = args.inputs["secret"].split("/")[-1]
    version = str(int(_hex(args.name, 4), 16) % 9 + 1)
    return {"name": f"projects/{PROJECT_NUMBER}/secrets/{secret}/versions/{version}", "version": version,
            "id": f"projects/{PROJECT_NUMBER}/secrets/{secret}/versions/{version}"}


def _address(args) -> dict:
    return {**_named("addresses")(args), "address": ADDRESS}


def _monitoring(kind: str) -> Callable:
    def outputs(args) -> dict:
        resource_id = f"projects/{_project(args)}/{kind}/{_hex(args.name, 16)}"
        return {"id": resource_id, "name": resource_id}
    return outputs


MOCK_OUTPUTS: dict[str, Callable] = {
    "pulumi:providers:gcp": _provider,
    "gcp:compute/network:Network": _named("networks"),
    "gcp:compute/subnetwork:Subnetwork": _named("subnetworks", "regions"),
    "gcp:compute/router:Router": _named("routers", "regions"),
    "gcp:compute/routerNat:RouterNat": lambda args: {"id": f"{args.inputs.get('router')}/{args.name}"},
    "gcp:compute/firewall:Firewall": _named("firewalls"),
    "gcp:serviceaccount/account:Account": _account,
    "gcp:projects/iAMMember:IAMMember": lambda args: {"etag": "BwOffline"},
    "gcp:secretmanager/secret:Secret": _secret,
    "gcp:secretmanager/secretVersion:SecretVersion": _secret_version,
    "gcp:secretmanager/secretIamMember:SecretIamMember": lambda args: {"etag": "BwOffline"},
    "gcp:container/cluster:Cluster": _cluster,
    "gcp:container/nodePool:NodePool": _node_pool,
    "gcp:compute/globalAddress:GlobalAddress": _address,
    "gcp:compute/healthCheck:HealthCheck": _named("healthChecks"),
    "gcp:compute/backendService:BackendService": _named("backendServices"),
    "gcp:compute/uRLMap:URLMap": _named("urlMaps"),
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": _named("sslCertificates"),
    "gcp:compute/sSLPolicy:SSLPolicy": _named("sslPolicies"),
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": _named("targetHttpsProxies"),
    "gcp:compute/targetHttpProxy:TargetHttpProxy": _named("targetHttpProxies"),
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": _named("forwardingRules"),
    "gcp:compute/securityPolicy:SecurityPolicy": _named("securityPolicies"),
    "gcp:monitoring/alertPolicy:AlertPolicy": _monitoring("alertPolicies"),
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": lambda args: {
        **_monitoring("uptimeCheckConfigs")(args), "uptimeCheckId": f"{args.name}-{_hex(args.name, 8)}"},
}


def _zones(args) -> dict:
    region = args.args.get("region") or _state["region"]
    return {"id": region, "names": ZONES.get(region, [f"{region}-{z}" for z in "abc"]),
            "project": args.args.get("project") or _state["project"], "region": region}


def _project_info(args) -> dict:
    project = args.args.get("projectId") or _state["project"]
    return {"id": f"projects/{project}", "projectId": project, "number": PROJECT_NUMBER, "name": project}


MOCK_CALLS: dict[str, Callable] = {"gcp:compute/getZones:getZones": _zones,
                                   "gcp:organizations/getProject:getProject": _project_info}
