"""`aws.domain` and `aws.hosted_zone`: the stack's own name for the API, with its certificate made and
validated in DNS by the stack, instead of a pasted `load_balancer.tls_certificate` ARN.

Pure Python (no Pulumi import): the spec check uses it; components/aws/dns.py builds the resources.
"""
from __future__ import annotations

import re

from ..validation import Problems

DNS_NAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ZONE_ID_RE = re.compile(r"^Z[A-Z0-9]{1,31}$")


def parse_domain(p: Problems, raw: dict) -> tuple[str | None, str | None]:
    """(domain, hosted zone name or id), both or neither."""
    domain = p.string(raw, "domain", "aws.domain", None)
    zone = p.string(raw, "hosted_zone", "aws.hosted_zone", None)
    if domain is not None and not DNS_NAME_RE.match(domain):
        p.add("aws.domain", domain, "a lowercase DNS name such as api.example.com")
        domain = None
    if zone is not None and not (ZONE_ID_RE.match(zone) or DNS_NAME_RE.match(zone.rstrip("."))):
        p.add("aws.hosted_zone", zone, "a public Route 53 hosted zone: its name (example.com) or its id (Z...)")
        zone = None
    if (domain is None) != (zone is None):
        missing = "aws.hosted_zone" if zone is None else "aws.domain"
        p.add(missing, None, "set together with " + ("aws.domain" if zone is None else "aws.hosted_zone")
              + ": the stack writes the certificate's validation record and the alias into that zone")
        return None, None
    if zone and not ZONE_ID_RE.match(zone):
        zone = zone.rstrip(".")
        if domain != zone and not domain.endswith("." + zone):
            p.add("aws.domain", domain, f"a name in the hosted zone {zone} (aws.hosted_zone)")
    return domain, zone


def check_domain(p: Problems, spec) -> None:
    if spec.options.domain and spec.load_balancer.tls_certificate:
        p.add("load_balancer.tls_certificate", spec.load_balancer.tls_certificate,
              "unset with aws.domain: the stack makes and validates the domain's certificate itself (one or the other)")


def serves_tls(spec) -> bool:
    """The HTTPS listener exists: a pasted certificate, or the domain's own."""
    return bool(spec.load_balancer.tls_certificate or spec.options.domain)
