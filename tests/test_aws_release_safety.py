"""AWS: a full outage raises an alarm, a release that answers 5xx is rolled back, and `pulumi up` waits for
the rollout (issue 17, items 3 and 4)."""
from __future__ import annotations

import pytest

from components.aws.ecs import HEALTH_CHECK_GRACE_S
from components.aws.options import steady_state_timeout_s
from components.spec import parse_spec
from tools.offline import project_keys, stack_config

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated in favor of.*:DeprecationWarning")
ALARM, SERVICE = "aws:cloudwatch/metricAlarm:MetricAlarm", "aws:ecs/service:Service"
LB = "app/apigw-lb-alb/cdc4eb7dcd2b67b2"
TG = "targetgroup/apigw-lb-gateway/de008e4e8fbedbee"


def alarm(plan, key):
    return plan.one(ALARM, f"apigw-monitoring-{key}").inputs


def test_the_load_balancers_own_5xx_count_even_without_a_target(plan_of):
    found = alarm(plan_of("aws-prod"), "load-balancer-5xx-rate")
    assert found["name"] == "apigw-aws-prod-load-balancer-5xx-rate"
    queries = {q["id"]: q for q in found["metricQueries"]}
    assert queries["elb"]["metric"] == {"namespace": "AWS/ApplicationELB", "metricName": "HTTPCode_ELB_5XX_Count",
                                        "dimensions": {"LoadBalancer": LB}, "period": 60.0, "stat": "Sum"}
    assert queries["rate"]["expression"] == "IF(requests + elb > 0, 100 * elb / (requests + elb), 0)"
    assert (found["threshold"], found["treatMissingData"]) == (5.0, "notBreaching")


def test_no_healthy_gateway_target_is_an_alarm_not_missing_data(plan_of):
    found = alarm(plan_of("aws-prod"), "gateway-healthy-below-minimum")
    assert (found["metricName"], found["statistic"], found["dimensions"], found["threshold"],
            found["comparisonOperator"], found["treatMissingData"]) == (
        "HealthyHostCount", "Minimum", {"LoadBalancer": LB, "TargetGroup": TG}, 3.0, "LessThanThreshold", "breaching")


def test_each_service_has_its_5xx_alarm_through_service_connect(plan_of):
    found = alarm(plan_of("aws-prod"), "users-api-5xx-rate")
    errors = next(q for q in found["metricQueries"] if q["id"] == "errors")["metric"]
    assert (errors["namespace"], errors["metricName"], errors["dimensions"]["TargetDiscoveryName"]) == (
        "AWS/ECS", "HTTPCode_Target_5XX_Count", "users-api")
    assert found["name"] == "apigw-aws-prod-users-api-5xx-rate" and found["treatMissingData"] == "notBreaching"


def test_each_rollout_rolls_back_on_its_alarm_which_exists_under_that_name(plan_of):
    plan = plan_of("aws-prod")
    alarm_names = {a.inputs.get("name") for a in plan.by_type(ALARM)}
    for program in ("gateway", "users-api", "locations-api", "payments-api"):
        service = plan.one(SERVICE, f"apigw-{program}-service").inputs
        assert service["alarms"]["enable"] is True and service["alarms"]["rollback"] is True
        assert service["alarms"]["alarmNames"] and set(service["alarms"]["alarmNames"]) <= alarm_names
        assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        assert service["waitForSteadyState"] is True


def test_dev_does_not_wait_or_roll_back_on_alarms_it_does_not_have(plan_of):
    for service in plan_of("aws-dev").by_type(SERVICE):
        assert "alarms" not in service.inputs and service.inputs.get("waitForSteadyState") is False


def test_the_wait_is_sized_from_the_health_checks_and_the_draining():
    spec = parse_spec(project_keys(stack_config("aws-prod")))
    hc = spec.load_balancer.health_check
    expected = 2 * (120 + HEALTH_CHECK_GRACE_S + hc.interval_s * hc.healthy_threshold
                    + spec.options.deregistration_delay_s) + 300
    assert steady_state_timeout_s(spec, spec.options, HEALTH_CHECK_GRACE_S) == expected == 760
