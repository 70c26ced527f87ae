"""The `apigw:local` block and the local target's rules in the spec (pure, no process started)."""
import copy
import json
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO)) if str(REPO) not in sys.path else None

from components.local.options import LocalOptions, planned_ports  # noqa: E402
from components.local.topology import plan_topology  # noqa: E402
from components.spec import SpecError, parse_spec  # noqa: E402
from tools.bench_local import stack_raw  # noqa: E402


@pytest.fixture
def raw():
    return copy.deepcopy(stack_raw("local-dev"))


def problems(raw) -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    return [str(p) for p in err.value.problems]


def test_the_local_dev_stack_parses_with_its_documented_ports(raw):
    spec = parse_spec(raw)
    options = spec.options
    assert isinstance(options, LocalOptions)
    assert (options.listen_host, options.load_balancer_port, options.haproxy_stats_port,
            options.gateway_base_port, options.service_base_port, options.service_port_stride) == \
        ("127.0.0.1", 8000, 8404, 8100, 9000, 10)
    assert options.resolve_state_dir("local-dev") == REPO / ".state" / "local-dev"


def test_defaults_when_the_block_is_left_out(raw):
    del raw["local"]
    assert parse_spec(raw).options == LocalOptions()


def test_relative_state_dir_is_taken_from_the_repo_root(raw, tmp_path):
    raw["local"]["state_dir"] = "build/state"
    assert parse_spec(raw).options.resolve_state_dir("x") == REPO / "build" / "state"
    raw["local"]["state_dir"] = str(tmp_path)
    assert parse_spec(raw).options.resolve_state_dir("x") == tmp_path


def test_instances_max_is_refused_not_ignored_on_the_local_target(raw):
    raw["gateway"]["instances"] = {"min": 2, "max": 5}
    assert problems(raw) == [
        "gateway.instances.max: found 5; allowed: nothing on the local target, which does not honour it: "
        "nothing autoscales on one machine: instances.min processes run"]


def test_one_process_per_instance_min_on_consecutive_ports(raw):
    raw["gateway"]["instances"] = {"min": 2}
    spec = parse_spec(raw)
    assert [(u.port, u.user) for u in planned_ports(spec.options, spec)] == [
        (8000, "the load balancer"), (8404, "the HAProxy Prometheus endpoint"),
        (8100, "gateway instance 1"), (8101, "gateway instance 2"),
        (9000, "locations-api instance 1"), (9001, "locations-api instance 2"),
        (9010, "payments-api instance 1"), (9011, "payments-api instance 2"),
        (9020, "users-api instance 1"), (9021, "users-api instance 2"), (9022, "users-api instance 3")]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "localhost", "::"])
def test_listen_host_is_loopback_only(raw, host):
    raw["local"]["listen_host"] = host
    assert problems(raw) == [f"local.listen_host: found {host!r}; allowed: 127.0.0.1 "
                             "(loopback only: the dev topology has no TLS or authentication)"]


def test_gateway_ports_overlapping_a_service_name_both_users(raw):
    raw["local"]["service_base_port"] = 8101
    assert problems(raw) == [
        "local.service_base_port: found 8101; allowed: ports no other process of the topology uses: "
        "port 8101 of locations-api instance 1 is also used by gateway instance 2 (set by local.gateway_base_port)"]


def test_services_overlapping_each_other_when_the_stride_is_too_small(raw):
    raw["local"]["service_port_stride"] = 1
    found = problems(raw)
    assert found[0] == ("local.service_base_port: found 9000; allowed: ports no other process of the topology "
                        "uses: port 9001 of payments-api instance 1 is also used by locations-api instance 2 "
                        "(set by local.service_base_port)")
    assert found[1].endswith("port 9002 of users-api instance 1 is also used by payments-api instance 2 "
                             "(set by local.service_base_port)")  # every clash is listed
    assert len(found) == 2


def test_load_balancer_and_metrics_on_the_same_port(raw):
    raw["local"]["haproxy_stats_port"] = 8000
    assert problems(raw) == [
        "local.haproxy_stats_port: found 8000; allowed: ports no other process of the topology uses: "
        "port 8000 of the HAProxy Prometheus endpoint is also used by the load balancer "
        "(set by local.load_balancer_port)"]


def test_ports_past_65535_and_privileged_ports(raw):
    raw["local"]["gateway_base_port"] = 65535
    assert problems(raw) == ["local.gateway_base_port: found 65535; allowed: a base port that leaves room for "
                             "every instance: gateway instance 2 would get port 65536"]
    raw["local"]["gateway_base_port"] = 80
    assert problems(raw) == ["local.gateway_base_port: found 80; allowed: an integer from 1024 to 65535"]


def test_unknown_keys_and_bad_types_name_the_key(raw):
    raw["local"]["lb_port"] = 8000
    raw["local"]["start_timeout_s"] = "soon"
    found = problems(raw)
    assert found[0].startswith("local.lb_port: found 8000; allowed: known keys: state_dir, listen_host")
    assert found[1] == "local.start_timeout_s: found 'soon'; allowed: an integer from 1 to 300"


def test_log_rotation_size_and_count_come_from_the_config(raw, tmp_path):
    assert (LocalOptions().log_max_size_mib, LocalOptions().log_keep_files) == (10, 3)
    raw["local"].update(log_max_size_mib=2, log_keep_files=5)
    spec = parse_spec(raw)
    supervisor = json.loads(plan_topology(spec, tmp_path).get("supervisor").files[0][1])
    assert (supervisor["log_max_bytes"], supervisor["log_keep_files"]) == (2 * 1024 * 1024, 5)


@pytest.mark.parametrize("key,value,allowed", [
    ("log_max_size_mib", 0, "an integer from 1 to 1024"),
    ("log_max_size_mib", "10M", "an integer from 1 to 1024"),
    ("log_max_size_mib", 2048, "an integer from 1 to 1024"),
    ("log_keep_files", 0, "an integer from 1 to 50"),
    ("log_keep_files", 2.5, "an integer from 1 to 50"),
])
def test_bad_log_rotation_settings_name_the_key_and_the_allowed_values(raw, key, value, allowed):
    raw["local"][key] = value
    assert problems(raw) == [f"local.{key}: found {value!r}; allowed: {allowed}"]


@pytest.mark.parametrize("phase", ["staging", "prod"])
def test_local_serves_the_dev_phase_only(raw, phase):
    raw["phase"] = phase
    elsewhere = "aws, azure, docker, gcp, kubernetes" if phase == "staging" else "aws, azure, gcp, kubernetes"
    assert (f"phase: found {phase!r}; allowed: dev only on the local target (one host is never staging or prod: "
            f"{phase} runs on {elsewhere})") in problems(raw)


def test_algorithms_the_local_target_cannot_honour(raw):
    raw["load_balancer"]["algorithm"] = "ewma"
    assert problems(raw) == ["load_balancer.algorithm: found 'ewma'; allowed: one of round_robin, "
                             "least_connections, random, source_ip_hash on the local target"]


@pytest.mark.parametrize("command,allowed", [
    ("python3 -m http.server {port} 'oops", "a command line with balanced quotes (No closing quotation)"),
    ("{port} --serve", "a program followed by its arguments, {port} among them"),
])
def test_a_service_command_must_split_into_a_program_and_its_arguments(raw, command, allowed):
    raw["services"]["users-api"]["command"] = command
    assert problems(raw) == [f"services.users-api.command: found {command!r}; allowed: {allowed}"]
