"""The internet-facing Application Load Balancer, the gateway's target group and the listeners.

With a certificate: HTTPS on 443 (TLS 1.3 policy) forwards to the gateway, and HTTP on 80
redirects to it (unless the stack turns the redirect off). Without one (dev only; the spec
rejects it elsewhere) HTTP on 80 forwards, and the stack says it serves plain HTTP.
"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws.options import AwsOptions
from components.spec import StackSpec

HTTPS_REDIRECT = {"type": "redirect",
                  "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}


class LoadBalancer(pulumi.ComponentResource):
    TYPE = "apigw:aws:LoadBalancer"

    def __init__(self, name: str, spec: StackSpec, vpc_id: pulumi.Input[str],
                 subnet_ids: list[pulumi.Input[str]], security_group_id: pulumi.Input[str],
                 access_logs_bucket: pulumi.Input[str] | None = None,
                 access_logs_ready: list[pulumi.Resource] | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        options: AwsOptions = spec.options
        child = pulumi.ResourceOptions(parent=self)
        access_logs = None
        if access_logs_bucket is not None:
            access_logs = {"enabled": True, "bucket": access_logs_bucket, "prefix": options.access_logs_prefix}
        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            ip_address_type="ipv4",
            subnets=subnet_ids,  # one public subnet per zone: AWS requires at least two zones
            security_groups=[security_group_id],
            drop_invalid_header_fields=True,
            desync_mitigation_mode=options.desync_mitigation_mode,
            enable_http2=True,
            idle_timeout=options.idle_timeout_s,
            enable_deletion_protection=options.deletion_protection,
            access_logs=access_logs,
            # AWS checks that it may write to the bucket when logging is switched on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=access_logs_ready or []),
        )
        hc = spec.load_balancer.health_check
        self.target_group = aws.lb.TargetGroup(
            f"{name}-gateway",
            target_type="ip",  # Fargate tasks register by their ENI's address
            vpc_id=vpc_id,
            port=spec.gateway.port,
            protocol="HTTP",
            protocol_version="HTTP1",
            load_balancing_algorithm_type=spec.load_balancer.algorithm,
            deregistration_delay=options.deregistration_delay_s,
            slow_start=options.slow_start_s,
            health_check={
                "enabled": True,
                "path": hc.path,
                "port": "traffic-port",
                "protocol": "HTTP",
                "interval": hc.interval_s,
                "timeout": hc.timeout_s,
                "healthy_threshold": hc.healthy_threshold,
                "unhealthy_threshold": hc.unhealthy_threshold,
                "matcher": hc.matcher,
            },
            opts=child,
        )
        forward = {"type": "forward", "target_group_arn": self.target_group.arn}
        tls = spec.load_balancer.tls_certificate
        self.https_listener = None
        if tls:
            self.https_listener = aws.lb.Listener(
                f"{name}-https", load_balancer_arn=self.alb.arn, port=443, protocol="HTTPS",
                certificate_arn=tls, ssl_policy=options.ssl_policy, default_actions=[forward], opts=child)
        redirect = bool(tls) and spec.load_balancer.http_to_https_redirect
        self.http_listener = aws.lb.Listener(
            f"{name}-http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP",
            default_actions=[HTTPS_REDIRECT if redirect else forward], opts=child)
        self.plain_http = not redirect
        scheme = "https" if tls else "http"
        self.url = self.alb.dns_name.apply(lambda dns: f"{scheme}://{dns}")
        self.listeners = [listener for listener in (self.https_listener, self.http_listener) if listener]
        self.register_outputs({"dns_name": self.alb.dns_name, "url": self.url,
                               "target_group": self.target_group.arn})
