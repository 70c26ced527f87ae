"""Pure layout rules of the AWS target: which zones, which CIDRs, which health-check command."""
from __future__ import annotations

import pytest

from components.aws.gateway import container_user, default_health_check, health_check_command
from components.aws.network import Zone, select_zones, subnet_cidrs
from components.aws.options import AwsOptions

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")


def test_zones_are_chosen_by_name_and_keyed_by_letter():
    available = ["us-east-1d", "us-east-1a", "us-east-1c", "us-east-1b"]
    assert select_zones(available, "us-east-1", 3) == [
        Zone("us-east-1a", "a", 0), Zone("us-east-1b", "b", 1), Zone("us-east-1c", "c", 2)]
    assert select_zones(["us-west-1c", "us-west-1b"], "us-west-1", 3) == [
        Zone("us-west-1b", "b", 1), Zone("us-west-1c", "c", 2)]


def test_a_region_needs_two_usable_zones():
    with pytest.raises(ValueError, match="needs at least 2"):
        select_zones(["us-east-1a", "us-east-1-bos-1a"], "us-east-1", 2)


def test_subnet_cidrs_follow_the_zone_letter_not_the_position():
    b = Zone("us-east-1b", "b", 1)
    assert subnet_cidrs("10.30.0.0/16", b) == ("10.30.144.0/20", "10.30.16.0/20")
    # Dropping zone a from the list leaves b's subnets where they were.
    assert subnet_cidrs("10.30.0.0/16", select_zones(["us-east-1b", "us-east-1c"], "us-east-1", 2)[0]) == \
        subnet_cidrs("10.30.0.0/16", b)
    assert subnet_cidrs("192.168.4.0/24", Zone("x", "h", 7)) == ("192.168.4.240/28", "192.168.4.112/28")


def test_health_check_command_default_override_and_none():
    options = AwsOptions(container_health_checks={"users-api": "none", "payments-api": "curl -fs localhost:9/h"})
    assert health_check_command(options, "gateway", 8080, "/healthz") == default_health_check(8080, "/healthz") == \
        "wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1"
    assert health_check_command(options, "users-api", 8080, "/health") is None
    assert health_check_command(options, "payments-api", 9, "/h") == "curl -fs localhost:9/h"


def test_container_users_default_non_root_and_image_keeps_the_images_user():
    options = AwsOptions(container_users={"users-api": "image", "payments-api": "1000:1000"})
    assert container_user(options, "gateway") == "101:101"
    assert container_user(options, "locations-api") == "65532:65532"
    assert container_user(options, "users-api") is None
    assert container_user(options, "payments-api") == "1000:1000"
