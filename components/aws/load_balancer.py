"""The internet-facing Application Load Balancer, the gateway's target group and the listeners.

With a certificate: HTTPS on 443 (TLS 1.3 policy) forwards to the gateway, and HTTP on 80
redirects to it (unless the stack turns the redirect off). Without one (dev only; the spec
rejects it elsewhere) HTTP on 80 forwards, and the stack says it serves plain HTTP.
"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .args import LoadBalancerArgs
from .checks import check_load_balancer

HTTPS_REDIRECT = {"type": "redirect",
                  "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}


class LoadBalancer(pulumi.ComponentResource):
    TYPE = "apigw:aws:LoadBalancer"

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        """`opts.depends_on`: what the ALB itself waits for, e.g. the access-log bucket's policy
        (a component's dependencies do not pass to its children)."""
        check_load_balancer(args)
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        access_logs = connection_logs = None
        if args.access_logs is not None:
            access_logs = {"enabled": True, "bucket": args.access_logs.bucket, "prefix": args.access_logs.prefix}
        if args.connection_logs is not None:
            connection_logs = {"enabled": True, "bucket": args.connection_logs.bucket,
                               "prefix": args.connection_logs.prefix}
        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            ip_address_type="ipv4",
            subnets=args.subnet_ids,  # one public subnet per zone: AWS requires at least two zones
            security_groups=[args.security_group_id],
            drop_invalid_header_fields=True,
            desync_mitigation_mode=args.desync_mitigation_mode,
            enable_http2=True,
            idle_timeout=args.idle_timeout_s,
            enable_deletion_protection=args.deletion_protection,
            access_logs=access_logs,
            connection_logs=connection_logs,
            # Zonal shift moves traffic off one zone on request (ARC); the ALB's targets are in every zone.
            enable_zonal_shift=args.zonal_shift,
            # AWS checks that it may write to the bucket when logging is switched on.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=opts.depends_on if opts else None)),
        )
        hc = args.health_check
        self.target_group = aws.lb.TargetGroup(
            f"{name}-gateway",
            target_type="ip",  # Fargate tasks register by their ENI's address
            vpc_id=args.vpc_id,
            port=args.target_port,
            protocol="HTTP",
            protocol_version="HTTP1",
            load_balancing_algorithm_type=args.algorithm,
            deregistration_delay=args.deregistration_delay_s,
            slow_start=args.slow_start_s,
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
        tls = args.tls_certificate_arn is not None
        self.https_listener = None
        if tls:
            self.https_listener = aws.lb.Listener(
                f"{name}-https", load_balancer_arn=self.alb.arn, port=443, protocol="HTTPS",
                certificate_arn=args.tls_certificate_arn, ssl_policy=args.ssl_policy, default_actions=[forward],
                opts=child)
        redirect = tls and args.http_to_https_redirect
        self.http_listener = aws.lb.Listener(
            f"{name}-http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP",
            default_actions=[HTTPS_REDIRECT if redirect else forward], opts=child)
        self.plain_http = not redirect
        scheme = "https" if tls else "http"
        self.url = self.alb.dns_name.apply(lambda dns: f"{scheme}://{dns}")
        self.listeners = [listener for listener in (self.https_listener, self.http_listener) if listener]
        self.register_outputs({"dns_name": self.alb.dns_name, "url": self.url,
                               "target_group": self.target_group.arn})
