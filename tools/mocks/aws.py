"""Fake AWS answers for the offline plan: the aws target's contract names this module, and
tools/offline.py loads its MOCK_OUTPUTS and MOCK_CALLS.

Under mocks a resource's outputs are its inputs; what AWS computes (ARNs, DNS names, generated
names) and what data sources return (zones, account) are filled in here, shaped like the real
values so that strings built from them (ARN suffixes, resource ids) read as they would on AWS.
Nothing here is real: the account is the documentation account 123456789012.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable

ACCOUNT_ID = "123456789012"
ELB_ACCOUNT_ARN = "arn:aws:iam::127311923021:root"  # us-east-1's Elastic Load Balancing account
DEFAULT_REGION = "us-east-1"

# What getAvailabilityZones answers per region (regular zones); us-west-1 really has two.
ZONES = {
    "us-east-1": [f"us-east-1{z}" for z in "abcdef"],
    "us-west-1": ["us-west-1b", "us-west-1c"],
}

_state = {"region": DEFAULT_REGION}


def _region() -> str:
    return _state["region"]


def _hex(name: str, length: int = 16) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:length]


def _name(args) -> str:
    return args.inputs.get("name") or args.name


def _arn(service: str, resource: str, regional: bool = True) -> str:
    return f"arn:aws:{service}:{_region() if regional else ''}:{ACCOUNT_ID}:{resource}"


def _provider(args) -> dict:
    # The explicit provider registers before any resource or data source: remember its region
    # for the fakes.
    _state["region"] = args.inputs.get("region") or DEFAULT_REGION
    return {}


def _load_balancer(args) -> dict:
    name = _name(args)
    suffix = f"app/{name}/{_hex(name)}"
    return {"name": name, "arn": _arn("elasticloadbalancing", f"loadbalancer/{suffix}"), "arnSuffix": suffix,
            "dnsName": f"{name}-{int(_hex(name, 8), 16)}.{_region()}.elb.amazonaws.com", "zoneId": "Z35SXDOTRQ7X7K"}


def _target_group(args) -> dict:
    name = _name(args)
    suffix = f"targetgroup/{name}/{_hex(name)}"
    return {"name": name, "arn": _arn("elasticloadbalancing", suffix), "arnSuffix": suffix}


def _named(service: str, kind: str, regional: bool = True) -> Callable:
    def outputs(args) -> dict:
        name = _name(args)
        return {"name": name, "arn": _arn(service, f"{kind}/{name}", regional)}
    return outputs


def _bucket(args) -> dict:
    name = args.inputs.get("bucket") or args.name
    return {"bucket": name, "arn": f"arn:aws:s3:::{name}", "bucketRegionalDomainName": f"{name}.s3.amazonaws.com"}


def _task_definition(args) -> dict:
    family = args.inputs.get("family") or args.name
    return {"arn": _arn("ecs", f"task-definition/{family}:1"), "revision": 1.0}


def _certificate(args) -> dict:
    domain = args.inputs.get("domainName", "")
    return {"arn": _arn("acm", f"certificate/{_hex(domain, 8)}-0000-4000-8000-{_hex(domain, 12)}"),
            "domainValidationOptions": [{
                "domainName": domain, "resourceRecordName": f"_{_hex(domain, 32)}.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{_hex(domain + 'v', 32)}.acm-validations.aws."}]}


MOCK_OUTPUTS: dict[str, Callable] = {
    "aws:acm/certificate:Certificate": _certificate,
    # AWS appends six random characters to a secret's name in its ARN.
    "aws:secretsmanager/secret:Secret": lambda args: {
        "arn": _arn("secretsmanager", f"secret:{_name(args)}-{_hex(_name(args), 6)}")},
    "aws:route53/record:Record": lambda args: {"fqdn": str(args.inputs.get("name", "")).rstrip(".")},
    "pulumi:providers:aws": _provider,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": lambda args: {"arn": _arn("elasticloadbalancing", f"listener/{args.name}")},
    "aws:ecs/cluster:Cluster": _named("ecs", "cluster"),
    "aws:ecs/service:Service": lambda args: {"name": _name(args)},
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "aws:servicediscovery/httpNamespace:HttpNamespace": _named("servicediscovery", "namespace"),
    "aws:iam/role:Role": _named("iam", "role", regional=False),
    # arn:aws:logs:<region>:<account>:log-group:<name>, as AWS writes it (a colon, not a slash).
    "aws:cloudwatch/logGroup:LogGroup": lambda args: {"name": _name(args),
                                                      "arn": _arn("logs", f"log-group:{_name(args)}")},
    "aws:wafv2/webAcl:WebAcl": _named("wafv2", "regional/webacl"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _named("cloudwatch", "alarm"),
    "aws:s3/bucket:Bucket": _bucket,
}


def _zones(args) -> dict:
    region = args.args.get("region") or _region()
    names = ZONES.get(region, [f"{region}{z}" for z in "abc"])
    return {"id": region, "names": names, "zoneIds": [f"use1-az{i + 1}" for i in range(len(names))],
            "groupNames": [region] * len(names), "state": "available"}


def _subnet(args) -> dict:
    # An existing subnet's zone, from its id's last hex digit (subnet-...1 in b, ...2 in c, in us-east-1).
    subnet = args.args.get("id") or "subnet-0"
    names = ZONES.get(_region(), [f"{_region()}{z}" for z in "abc"])
    return {"id": subnet, "availabilityZone": names[int(subnet[-1], 16) % len(names)]}


def _endpoint_service(args) -> dict:
    service, kind = args.args.get("service"), args.args.get("serviceType") or "Interface"
    return {"service": service, "serviceType": kind, "serviceName": f"com.amazonaws.{_region()}.{service}",
            "id": f"{service}-{kind}"}


MOCK_CALLS: dict[str, Callable] = {
    "aws:ec2/getSubnet:getSubnet": _subnet,
    "aws:ec2/getVpcEndpointService:getVpcEndpointService": _endpoint_service,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _zones,
    "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
        "accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline-plan", "userId": "AIDAOFFLINE",
        "id": ACCOUNT_ID},
    "aws:route53/getZone:getZone": lambda args: {
        "zoneId": f"Z{_hex(args.args.get('name') or '', 20).upper()}", "name": args.args.get("name"), "id": "zone"},
    # A secret's ARN ends in its name and six random characters.
    "aws:secretsmanager/getSecret:getSecret": lambda args: {
        "arn": _arn("secretsmanager", f"secret:{args.args.get('name')}-{_hex(args.args.get('name') or '', 6)}"),
        "name": args.args.get("name"), "id": args.args.get("name")},
    "aws:elb/getServiceAccount:getServiceAccount": lambda args: {"arn": ELB_ACCOUNT_ARN, "id": "127311923021",
                                                                  "region": args.args.get("region") or _region()},
}
