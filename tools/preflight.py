"""Preview-time lookups: `python -m tools.preflight STACK`, run by `make preview` and `make up`.

The offline plan can only say a value looks like a placeholder. With cloud credentials at hand,
this asks the cloud whether what the stack names exists and is usable, and refuses with the key
to fix, before `pulumi up` would fail half-way (a listener without its certificate, alarms without
their topic, a cache rule without its secret). On aws:
- load_balancer.tls_certificate: the ACM certificate exists and is ISSUED;
- monitoring.alarm_topic: the SNS topic exists;
- aws.image_cache_credentials.<host>: the Secrets Manager secret exists.
Without credentials it says what it skipped and exits 0: the offline plan still warns about placeholders.
Exit codes: 0 fine or skipped, 1 a lookup refused a value, 2 a bad stack name or file.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from components.spec import SpecError, StackSpec, parse_spec
from tools.offline import StackFileError, project_keys, project_name, read_stack, stack_names

Client = Callable[[str, str], object]
"""(service, region) -> a boto3 client."""


def _error_code(err: Exception) -> str:
    return getattr(err, "response", {}).get("Error", {}).get("Code", type(err).__name__)


def aws_problems(spec: StackSpec, client: Client) -> list[str]:
    """`<key>: <what the cloud says>` for every named resource that is missing or unusable."""
    from botocore.exceptions import ClientError
    problems = []
    certificate = spec.load_balancer.tls_certificate
    if certificate:
        try:
            described = client("acm", spec.region).describe_certificate(CertificateArn=certificate)
            status = described["Certificate"]["Status"]
            if status != "ISSUED":
                problems.append(f"load_balancer.tls_certificate: {certificate} is {status} in ACM; the HTTPS listener "
                                "needs an ISSUED certificate (finish its DNS validation, or name another)")
        except ClientError as err:
            problems.append(f"load_balancer.tls_certificate: {certificate} cannot be read in ACM ({_error_code(err)}); "
                            "name a certificate of this account and region")
    topic = spec.monitoring.alarm_topic
    if topic:
        try:
            client("sns", spec.region).get_topic_attributes(TopicArn=topic)
        except ClientError as err:
            problems.append(f"monitoring.alarm_topic: {topic} cannot be read in SNS ({_error_code(err)}); create the "
                            "topic and subscribe your on-call to it, or name an existing one")
    options = spec.options
    for host, secret in sorted(options.image_cache_credentials.items()) if options.image_cache else ():
        try:
            client("secretsmanager", spec.region).describe_secret(SecretId=secret)
        except ClientError as err:
            problems.append(f"aws.image_cache_credentials.{host}: the secret {secret} cannot be read "
                            f"({_error_code(err)}); create it as the README's Image supply section shows")
    return problems


def _boto3_client() -> Client | None:
    """A client factory when credentials are configured (environment, profile, SSO, role), else None."""
    try:
        import boto3
    except ImportError:
        return None
    session = boto3.Session()
    if session.get_credentials() is None:
        return None
    return lambda service, region: session.client(service, region_name=region)


def main(argv: list[str] | None = None, client: Client | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("stack", help=f"one of: {', '.join(stack_names())}")
    args = parser.parse_args(argv)
    try:
        config, parsed = read_stack(args.stack)
        spec = parse_spec(project_keys(config, project_name()), project_name(), parsed)
    except (StackFileError, SpecError) as err:
        print(f"preflight {args.stack}: {err} (run `make plan STACK={args.stack}` for every problem)", file=sys.stderr)
        return 2
    if spec.target != "aws":
        return 0   # the lookups exist for aws; the other targets' references are checked by their providers
    client = client or _boto3_client()
    if client is None:
        print(f"preflight {args.stack}: no AWS credentials; skipped the lookups of the certificate, the alarm topic "
              "and the image cache's secrets")
        return 0
    problems = aws_problems(spec, client)
    for line in problems:
        print(f"preflight {args.stack}: {line}", file=sys.stderr)
    if not problems:
        print(f"preflight {args.stack}: the certificate, the alarm topic and the image cache's secrets exist")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
