"""The API's own name: an ACM certificate validated through Route 53, and an alias record to the ALB."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .args import DomainArgs
from .domain import ZONE_ID_RE

VALIDATION_TTL_S = 60


class Domain(pulumi.ComponentResource):
    """The certificate and its DNS validation; `point_at` adds the alias once the load balancer exists.
    `certificate_arn` resolves only once ACM has issued the certificate: a listener that uses it
    waits for the validation instead of failing on a pending certificate."""

    TYPE = "apigw:aws:Domain"

    def __init__(self, name: str, args: DomainArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(self.TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name, self._child, self._args_name = name, child, args.name
        # A zone given by name is looked up: a zone that does not exist fails the preview, not the update.
        self.zone_id = zone_id = args.hosted_zone if ZONE_ID_RE.match(args.hosted_zone) else \
            aws.route53.get_zone_output(name=args.hosted_zone, private_zone=False,
                                        opts=pulumi.InvokeOutputOptions(parent=self)).zone_id
        self.certificate = aws.acm.Certificate(
            f"{name}-certificate", domain_name=args.name, validation_method="DNS",
            key_algorithm="RSA_2048",  # ACM's default, which every client can use; ACM renews it itself
            opts=child)
        option = self.certificate.domain_validation_options[0]
        self.validation_record = aws.route53.Record(
            f"{name}-validation", zone_id=zone_id, name=option.resource_record_name,
            type=option.resource_record_type, records=[option.resource_record_value], ttl=VALIDATION_TTL_S,
            allow_overwrite=True,  # the same CNAME validates every certificate of this name (a replacement too)
            opts=child)
        self.validation = aws.acm.CertificateValidation(
            f"{name}-validation", certificate_arn=self.certificate.arn,
            validation_record_fqdns=[self.validation_record.fqdn], opts=child)
        self.certificate_arn = self.validation.certificate_arn
        self.register_outputs({"certificate_arn": self.certificate_arn, "name": args.name})

    def point_at(self, load_balancer_dns_name: pulumi.Input[str], load_balancer_zone_id: pulumi.Input[str]):
        """The alias record: the domain answers with the load balancer's addresses, while it is healthy."""
        self.alias = aws.route53.Record(
            f"{self._name}-alias", zone_id=self.zone_id, name=self._args_name, type="A",
            aliases=[{"name": load_balancer_dns_name, "zone_id": load_balancer_zone_id,
                      "evaluate_target_health": True}],
            opts=self._child)
        return self.alias
