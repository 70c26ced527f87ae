"""A global external Application Load Balancer (EXTERNAL_MANAGED) over the gateway's standalone NEGs.

    apigw:gcp:LoadBalancer  <name>
    ├── GlobalAddress          <name>-ip
    ├── HealthCheck            <name>-health        from the spec's health check
    ├── SecurityPolicy         <name>-armor         (cloud_armor) preconfigured WAF rules, rate-based ban
    ├── BackendService         <name>-backend       one backend per zone: the NEG GKE made there
    ├── URLMap                 <name>-urls          -> the backend service
    ├── ManagedSslCertificate  <name>-certificate   (domain) Google-managed
    ├── SSLPolicy              <name>-tls           (domain) TLS 1.2+, MODERN or RESTRICTED
    ├── TargetHttpsProxy       <name>-https         (domain)
    ├── GlobalForwardingRule   <name>-https         (domain) :443
    ├── URLMap                 <name>-redirect      (domain) every request -> HTTPS
    ├── TargetHttpProxy        <name>-http          the redirect, or (no domain) the URL map
    └── GlobalForwardingRule   <name>-http          :80

GKE creates the NEGs (named `neg_name`, one per zone) when the gateway Service with the NEG
annotation exists, and deletes them when it goes: the backend service must depend on that Service.
"""
from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from .args import LoadBalancerArgs
from .options import HASHED, LOCALITY_POLICIES

WAF_RULES = ("sqli-v33-stable", "xss-v33-stable", "lfi-v33-stable", "rfi-v33-stable", "rce-v33-stable",
             "methodenforcement-v33-stable", "scannerdetection-v33-stable", "protocolattack-v33-stable",
             "sessionfixation-v33-stable")
"""Cloud Armor's preconfigured WAF rules (ModSecurity CRS 3.3), each a deny rule."""
POLICIES = tuple(LOCALITY_POLICIES.values())


def neg_group(project: str, zone: str, neg_name: str) -> str:
    """The NEG's full URL: the API documents partial URLs as unsupported for a backend's group."""
    return f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}/networkEndpointGroups/{neg_name}"


def check_args(args: LoadBalancerArgs) -> None:
    """Refuse what GCP would, before anything is registered (a stack never gets here with a bad value:
    the spec reports it first; this guards a program that fills the Args itself)."""
    hc = args.health_check
    problems = [f"{key}: {value!r} is not an integer from {lo} to {hi}" for key, value, lo, hi in (
        ("health_check.interval_s", hc.interval_s, 1, 300), ("health_check.timeout_s", hc.timeout_s, 1, 300),
        ("health_check.healthy_threshold", hc.healthy_threshold, 1, 10),
        ("health_check.unhealthy_threshold", hc.unhealthy_threshold, 1, 10)) if not lo <= value <= hi]
    if hc.timeout_s > hc.interval_s:
        problems.append(f"health_check.timeout_s: {hc.timeout_s} is above interval_s {hc.interval_s}")
    if args.locality_lb_policy not in POLICIES:
        problems.append(f"locality_lb_policy: {args.locality_lb_policy!r} is not one of {', '.join(POLICIES)}")
    if problems:
        raise ValueError("LoadBalancerArgs: " + "; ".join(problems))


def armor_rules(armor) -> list[dict]:
    rules = [{"priority": 1000 + i, "action": "deny(403)", "description": f"Preconfigured WAF: {rule}",
              "match": {"expr": {"expression": f"evaluatePreconfiguredWaf('{rule}', {{'sensitivity': 1}})"}}}
             for i, rule in enumerate(WAF_RULES)]
    rules.append({
        "priority": 2000, "action": "rate_based_ban", "description": "Per-client rate limit",
        "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
        "rate_limit_options": {"conform_action": "allow", "exceed_action": "deny(429)", "enforce_on_key": "IP",
                               "rate_limit_threshold": {"count": armor.rate_limit_per_minute, "interval_sec": 60},
                               "ban_duration_sec": armor.ban_duration_s}})
    rules.append({"priority": 2147483647, "action": "allow", "description": "Default: allow",
                  "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}}})
    return rules


class LoadBalancer(pulumi.ComponentResource):
    TYPE = "apigw:gcp:LoadBalancer"

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        check_args(args)
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project = {"project": args.project}
        hc = args.health_check
        self.address = gcp.compute.GlobalAddress(f"{name}-ip", **project, ip_version="IPV4", labels=args.labels,
                                                 opts=child)
        self.health_check = gcp.compute.HealthCheck(
            f"{name}-health", **project, check_interval_sec=hc.interval_s, timeout_sec=hc.timeout_s,
            healthy_threshold=hc.healthy_threshold, unhealthy_threshold=hc.unhealthy_threshold,
            # The NEG endpoints' own port (the gateway's container port); a 200 is healthy.
            http_health_check={"port_specification": "USE_SERVING_PORT", "request_path": hc.path},
            log_config={"enable": True}, opts=child)
        self.armor = None
        if args.cloud_armor:
            self.armor = gcp.compute.SecurityPolicy(
                f"{name}-armor", **project, type="CLOUD_ARMOR", description="WAF rules and a per-client rate limit",
                rules=armor_rules(args.cloud_armor), opts=child)
        hashed = args.locality_lb_policy in HASHED
        self.backend = gcp.compute.BackendService(
            f"{name}-backend", **project, load_balancing_scheme="EXTERNAL_MANAGED", protocol="HTTP",
            health_checks=self.health_check.id, timeout_sec=args.timeout_s,
            connection_draining_timeout_sec=args.draining_s, locality_lb_policy=args.locality_lb_policy,
            session_affinity="CLIENT_IP" if hashed else "NONE",
            backends=pulumi.Output.from_input(args.zones).apply(lambda zones: [
                {"group": neg_group(args.project, zone, args.neg_name), "balancing_mode": "RATE",
                 "max_rate_per_endpoint": args.max_rate_per_endpoint} for zone in zones]),
            # A gateway pod that keeps failing to answer (502/503/504, resets) leaves the rotation between
            # health checks. Any-5xx ejection stays off: the gateway answers its services' failures with
            # 5xx itself, which would eject healthy gateway pods during a service's outage.
            outlier_detection={"consecutive_gateway_failure": 5, "enforcing_consecutive_gateway_failure": 100,
                               "enforcing_consecutive_errors": 0, "enforcing_success_rate": 0,
                               "interval": {"seconds": 10}, "base_ejection_time": {"seconds": 30},
                               "max_ejection_percent": 34},
            log_config={"enable": True, "sample_rate": args.log_sample_rate},
            security_policy=self.armor.id if self.armor else None, opts=child)
        self.url_map = gcp.compute.URLMap(f"{name}-urls", **project, default_service=self.backend.id, opts=child)
        forwarding = {**project, "load_balancing_scheme": "EXTERNAL_MANAGED", "ip_address": self.address.id,
                      "ip_protocol": "TCP", "labels": args.labels}
        self.https_proxy = None
        http_url_map = self.url_map
        if args.domain:
            certificate = gcp.compute.ManagedSslCertificate(
                f"{name}-certificate", **project, managed={"domains": [args.domain]}, opts=child)
            tls = gcp.compute.SSLPolicy(f"{name}-tls", **project, profile=args.ssl_profile, min_tls_version="TLS_1_2",
                                        opts=child)
            self.https_proxy = gcp.compute.TargetHttpsProxy(
                f"{name}-https", **project, url_map=self.url_map.id, ssl_certificates=[certificate.id],
                ssl_policy=tls.id, opts=child)
            gcp.compute.GlobalForwardingRule(f"{name}-https", **forwarding, port_range="443",
                                             target=self.https_proxy.id, opts=child)
            http_url_map = gcp.compute.URLMap(
                f"{name}-redirect", **project, description="HTTP -> HTTPS",
                default_url_redirect={"https_redirect": True, "strip_query": False,
                                      "redirect_response_code": "MOVED_PERMANENTLY_DEFAULT"}, opts=child)
        self.http_proxy = gcp.compute.TargetHttpProxy(f"{name}-http", **project, url_map=http_url_map.id, opts=child)
        gcp.compute.GlobalForwardingRule(f"{name}-http", **forwarding, port_range="80", target=self.http_proxy.id,
                                         opts=child)
        self.register_outputs({"address": self.address.address})
