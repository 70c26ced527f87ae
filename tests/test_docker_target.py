"""The docker target: its spec refusals, the exact inputs of every resource under mocks, the configs it
ships checked by the real haproxy and nginx, and the policy pack on its resources (a prod copy refused)."""
from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from components.docker import configs
from components.docker.options import DockerOptions
from components.gateway.nginx import nginx_version_of
from components.haproxy import HAPROXY_BALANCE
from components.spec import parse_spec
from components.validation import SpecError
from tests.test_gateway_nginx import NGINX, needs_nginx
from tests.test_policy_rules import R, run, start
from tools.check import Resource, main
from tools.offline import STACKS_DIR, project_keys, run_program, stack_config

STACK = "docker-staging"
CONTAINER, NETWORK, IMAGE = "docker:index/container:Container", "docker:index/network:Network", \
    "docker:index/remoteImage:RemoteImage"
SERVICES = ("locations-api", "payments-api", "users-api")
HAPROXY = "/usr/sbin/haproxy"
needs_haproxy = pytest.mark.skipif(not Path(HAPROXY).exists(), reason=f"{HAPROXY} is not installed")


def raw(stack: str = STACK) -> dict:
    return copy.deepcopy(project_keys(stack_config(stack)))


def spec_of(stack: str = STACK):
    return parse_spec(raw(stack))


def problems(config: dict, project: str = "apigw") -> list[str]:
    with pytest.raises(SpecError) as err:
        parse_spec(config, project)
    return [str(p) for p in err.value.problems]


def image_id(reference: str) -> str:
    """What tools/mocks/docker.py answers for a pulled reference."""
    import hashlib
    return "sha256:" + hashlib.sha256(f"image:{reference}".encode()).hexdigest()


def decoded(env: str) -> str:
    return gzip.decompress(base64.b64decode(env.split("=", 1)[1])).decode()


# --- the spec: options and what the target refuses ------------------------------------------------

WHOAMI_NONE = {"users-api": "none", "locations-api": "none", "payments-api": "none"}


def test_the_shipped_stacks_read_their_options():
    assert spec_of("docker-staging").options == DockerOptions(
        subnet="10.231.1.0/24", listen_host="127.0.0.1", load_balancer_port=8000,
        haproxy_image="haproxy:3.0.10-alpine", container_health_checks=WHOAMI_NONE)
    assert spec_of("docker-dev").options == DockerOptions(
        subnet="10.231.0.0/24", listen_host="127.0.0.1", load_balancer_port=8001, container_health_checks=WHOAMI_NONE)


def test_without_a_docker_block_the_defaults_apply_with_the_phases_subnet():
    config = raw("docker-dev")
    del config["docker"]
    assert parse_spec(config).options == DockerOptions(subnet="10.231.0.0/24")
    assert DockerOptions().subnet == "10.231.1.0/24" and DockerOptions().host is None


NOT_HONOURED = "allowed: nothing on the docker target, which does not honour it: "


def _set(path: str, value):
    def change(config: dict) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return change


def _both(*changes):
    def change(config: dict) -> None:
        for one in changes:
            one(config)
    return change


@pytest.mark.parametrize("change, expected", [
    # Neutral keys the target does not carry out.
    (_set("region", "eu-west-1"),
     [f"region: found 'eu-west-1'; {NOT_HONOURED}one Docker host, named by docker.host (the local engine by default)"]),
    (_set("gateway.instances.max", 6),
     [f"gateway.instances.max: found 6; {NOT_HONOURED}nothing autoscales on one Docker host: instances.min "
      "containers run"]),
    (_set("services.users-api.command", "serve {port}"),
     [f"services.users-api.command: found 'serve {{port}}'; {NOT_HONOURED}a container runs its image's own command; "
      "`command` is for the local target"]),
    (_set("mesh", "istio"),
     [f"mesh: found 'istio'; {NOT_HONOURED}containers on one host talk over the stack's network; a mesh runs on the "
      "Kubernetes-based targets"]),
    (_set("monitoring.enabled", False),
     [f"monitoring.enabled: found False; {NOT_HONOURED}HAProxy's Prometheus endpoint is always on "
      "(docker.haproxy_stats_port, on the stack's network)"]),
    (_set("load_balancer.tls_certificate", "my-cert"),
     [f"load_balancer.tls_certificate: found 'my-cert'; {NOT_HONOURED}HAProxy serves plain HTTP, on loopback by "
      "default (docker.listen_host)"]),
    (_set("load_balancer.algorithm", "least_outstanding_requests"),
     ["load_balancer.algorithm: found 'least_outstanding_requests'; allowed: one of round_robin, least_connections, "
      "random, source_ip_hash on the docker target"]),
    # Never prod (and prod's HTTPS, which this target does not serve).
    (_set("phase", "prod"),
     ["phase: found 'prod'; allowed: dev, staging only on the docker target (one Docker host is a single point of "
      "failure, never prod: prod runs on aws, azure, gcp, kubernetes)",
      "load_balancer.tls_certificate: found None; allowed: a certificate reference: prod serves HTTPS"]),
    # Secrets: refused, never passed on as plain environment variables.
    (_set("services.users-api.environment.API_TOKEN", {"secret_ref": "users/token"}),
     ["services.users-api.environment.API_TOKEN: found '[secret]'; allowed: a plain value on the docker target: "
      "without swarm mode Docker keeps no secrets, a file copied into a container is refused by its read-only root "
      "filesystem, and an environment variable shows in `docker inspect` and the state"]),
    (lambda config: config.update(labels={"com.docker.compose.project": "x"}),
     ["labels.com.docker.compose.project: found 'x'; allowed: a key outside the namespaces Docker reserves "
      "(com.docker., io.docker., org.dockerproject.)"]),
    # The docker block.
    (_set("docker.ports", [8000]),
     ["docker.ports: found [8000]; allowed: known keys: host, cert_path, ssh_opts, subnet, listen_host, "
      "load_balancer_port, haproxy_image, haproxy_stats_port, load_balancer_cpu_millicores, load_balancer_memory_mib, "
      "start_timeout_s, container_health_checks, container_users"]),
    (_set("docker.host", "http://staging-vm:2375"),
     ["docker.host: found 'http://staging-vm:2375'; allowed: unix:///path/to/docker.sock, ssh://[user@]host[:port] "
      "(a staging VM over SSH) or tcp://host:port (with docker.cert_path: TLS)"]),
    (_set("docker.host", "tcp://staging-vm:2376"),
     ["docker.cert_path: found None; allowed: a directory holding ca.pem, cert.pem and key.pem: docker.host is "
      "tcp://, and the Docker API without TLS is root on the host for anyone who reaches it"]),
    (_set("docker.cert_path", "/etc/docker-tls"),
     ["docker.cert_path: found '/etc/docker-tls'; allowed: nothing unless docker.host is tcp:// (TLS to a remote "
      "engine)"]),
    (_set("docker.ssh_opts", ["-p", "2222"]),
     ["docker.ssh_opts: found ['-p', '2222']; allowed: nothing unless docker.host is ssh://"]),
    (_set("docker.subnet", "8.8.8.0/24"),
     ["docker.subnet: found '8.8.8.0/24'; allowed: a private IPv4 range (10/8, 172.16/12 or 192.168/16) from /16 to "
      "/27, overlapping no other network of the Docker host"]),
    (_set("docker.subnet", "10.231.1.0/28"),
     ["docker.subnet: found '10.231.1.0/28'; allowed: a private IPv4 range (10/8, 172.16/12 or 192.168/16) from /16 "
      "to /27, overlapping no other network of the Docker host"]),
    (_both(_set("services.users-api.instances.min", 10), _set("docker.subnet", "10.231.1.0/27")),
     ["docker.subnet: found '10.231.1.0/27'; allowed: a range whose upper half holds the 17 gateway and service "
      "containers: /27 holds 15; /26 or larger"]),
    (_set("docker.listen_host", "localhost"),
     ["docker.listen_host: found 'localhost'; allowed: an IPv4 address of the Docker host: 127.0.0.1 (loopback, the "
      "default), an interface's address, or 0.0.0.0 (every interface)"]),
    (_set("docker.haproxy_image", "haproxy:latest"),
     ["docker.haproxy_image: found 'haproxy:latest'; allowed: a pinned tag or digest, never 'latest'"]),
    (_set("docker.haproxy_stats_port", 8000),
     ["docker.haproxy_stats_port: found 8000; allowed: a port other than 8000, where HAProxy serves the clients "
      "inside its container"]),
    (_set("docker.start_timeout_s", 0),
     ["docker.start_timeout_s: found 0; allowed: an integer from 1 to 600"]),
    (_set("docker.container_users", {"gateway": "0:0"}),
     ["docker.container_users.gateway: found '0:0'; allowed: a non-root uid (not 0); image keeps the image's USER"]),
    (_set("docker.container_users", {"billing-api": "1000"}),
     ["docker.container_users.billing-api: found '1000'; allowed: a program of this stack: gateway, locations-api, "
      "payments-api, users-api, load_balancer"]),
    (_set("docker.container_health_checks", {"load_balancer": "wget\nexit 1"}),
     ["docker.container_health_checks.load_balancer: found 'wget\\nexit 1'; allowed: a shell command on one line, "
      "or none"]),
], ids=lambda v: None)
def test_each_docker_refusal_names_its_key_and_what_passes(change, expected):
    config = raw()
    change(config)
    assert problems(config) == expected


def test_names_that_would_not_be_host_names_are_refused():
    config = raw()
    long_name = "a" * 48
    config["services"][long_name] = config["services"].pop("payments-api")
    config["docker"]["container_health_checks"] = {"users-api": "none"}
    assert problems(config) == [
        f"services.{long_name}: found '{long_name}'; allowed: a shorter name: container "
        f"'apigw-staging-{long_name}-2' has 64 characters; a host name has at most 63"]
    assert problems(raw(), project="Api_GW") == [
        "<project name>: found 'Api_GW'; allowed: a project name that is a DNS label (lowercase letters, digits and "
        "'-'): it starts every container's name and host name"]


# --- under mocks: the exact inputs ----------------------------------------------------------------

LABELS = {"managed-by": "pulumi", "phase": "staging", "project": "apigw", "stack": STACK, "team": "platform"}


def labels(component: str, app: str) -> list[dict]:
    return [{"label": k, "value": v} for k, v in sorted({**LABELS, "component": component, "app": app}.items())]


HARDENING = {
    "readOnly": True, "tmpfs": {"/tmp": "rw,noexec,nosuid,size=16m"}, "capabilities": {"drops": ["ALL"]},
    "securityOpts": ["no-new-privileges:true"], "restart": "unless-stopped", "logDriver": "json-file",
    "logOpts": {"max-size": "10m", "max-file": "3"},
}


def test_the_network_is_the_stacks_own_bridge_on_its_subnet(plan_of):
    network = plan_of(STACK).one(NETWORK, "apigw-network-bridge")
    assert network.inputs == {
        "name": "apigw-staging", "driver": "bridge",
        "ipamConfigs": [{"subnet": "10.231.1.0/24", "gateway": "10.231.1.1", "ipRange": "10.231.1.128/25"}],
        "labels": labels("network", "apigw"),
    }


def test_one_container_per_instance_named_by_a_stable_key(plan_of):
    containers = {r.name: r.inputs["name"] for r in plan_of(STACK).by_type(CONTAINER)}
    assert containers == {
        **{f"apigw-gateway-{n}": f"apigw-staging-gateway-{n}" for n in (1, 2, 3)},
        **{f"apigw-{s}-{n}": f"apigw-staging-{s}-{n}" for s in SERVICES for n in (1, 2)},
        "apigw-lb-haproxy": "apigw-staging-lb",
    }
    plan = plan_of(STACK)
    parents = {r.name: plan_of(STACK).resources[[x.urn for x in plan.resources].index(r.parent)].name
               for r in plan.by_type(CONTAINER)}
    assert parents == {name: name.rsplit("-", 1)[0] if name != "apigw-lb-haproxy" else "apigw-lb" for name in parents}
    # Each instance after the one before (so `pulumi up` creates them in turn, each once healthy).
    urn = {r.name: r.urn for r in plan.resources}
    assert urn["apigw-users-api-1"] in plan.one(CONTAINER, "apigw-users-api-2").dependencies


def test_a_gateway_container_runs_the_shared_config_as_nginx_unprivileged(plan_of):
    gateway = plan_of(STACK).one(CONTAINER, "apigw-gateway-2")
    inputs = dict(gateway.inputs)  # a copy: the plan is shared by the session's tests
    env = inputs.pop("envs")
    assert inputs == {
        "name": "apigw-staging-gateway-2", "hostname": "apigw-staging-gateway-2",
        "image": image_id("nginxinc/nginx-unprivileged:1.27.3-alpine"),
        "networksAdvanced": [{"name": "apigw-staging"}],
        "entrypoints": ["/bin/sh", "-c"],
        "command": ['printf %s "$NGINX_CONF_GZ_B64" | base64 -d | gunzip > /tmp/nginx.conf '
                    "&& exec nginx -c /tmp/nginx.conf -g 'daemon off;'"],
        "user": "101:101", "cpus": "0.25", "memory": 128.0, "memorySwap": 128.0,
        **HARDENING, "tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"},
        "healthcheck": {"tests": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1"],
                        "interval": "10s", "timeout": "5s", "retries": 3.0, "startPeriod": "60s"},
        "wait": True, "waitTimeout": 75.0,
        "labels": labels("gateway", "gateway"),
        "destroyGraceSeconds": 30.0, "stopTimeout": 30.0,
    }
    assert len(env) == 1 and env[0].startswith("NGINX_CONF_GZ_B64=")
    assert decoded(env[0]) == configs.gateway_config(spec_of())
    assert gateway.ignore_changes == [] and not gateway.protect


def test_a_service_container_runs_its_image_with_its_limits_and_its_name_as_alias(plan_of):
    service = plan_of(STACK).one(CONTAINER, "apigw-users-api-1")
    assert service.inputs == {
        "name": "apigw-staging-users-api-1", "hostname": "apigw-staging-users-api-1",
        "image": image_id("traefik/whoami:v1.10.3"),
        "networksAdvanced": [{"name": "apigw-staging", "aliases": ["users-api"]}],
        "envs": ["WHOAMI_PORT_NUMBER=8080"],
        "user": "65532:65532", "cpus": "0.1", "memory": 64.0, "memorySwap": 64.0,
        **HARDENING,
        # The stack says none: whoami is FROM scratch, no shell to run a check in.
        "healthcheck": {"tests": ["NONE"]}, "wait": False,
        "labels": labels("service", "users-api"),
        "destroyGraceSeconds": 30.0, "stopTimeout": 30.0,
    }


def test_the_load_balancer_publishes_only_its_port_on_loopback(plan_of):
    plan = plan_of(STACK)
    lb = plan.one(CONTAINER, "apigw-lb-haproxy")
    inputs = dict(lb.inputs)
    env = inputs.pop("envs")
    assert inputs == {
        "name": "apigw-staging-lb", "hostname": "apigw-staging-lb", "image": image_id("haproxy:3.0.10-alpine"),
        # A fixed address outside the network's ip_range: the one the gateways believe X-Forwarded-For from.
        "networksAdvanced": [{"name": "apigw-staging", "ipv4Address": "10.231.1.2"}],
        "ports": [{"internal": 8000.0, "external": 8000.0, "ip": "127.0.0.1", "protocol": "tcp"}],
        "entrypoints": ["/bin/sh", "-c"],
        "command": ['printf %s "$HAPROXY_CFG_GZ_B64" | base64 -d | gunzip > /tmp/haproxy.cfg '
                    "&& exec haproxy -W -db -f /tmp/haproxy.cfg"],
        "user": "99:99", "cpus": "0.5", "memory": 128.0, "memorySwap": 128.0,
        **HARDENING,
        "healthcheck": {"tests": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8404/stats || exit 1"],
                        "interval": "10s", "timeout": "5s", "retries": 3.0, "startPeriod": "60s"},
        "wait": True, "waitTimeout": 75.0,
        "labels": labels("load_balancer", "haproxy"),
        "destroyGraceSeconds": 10.0, "stopTimeout": 10.0,
    }
    assert decoded(env[0]) == configs.haproxy_config(spec_of()) and env[0].startswith("HAPROXY_CFG_GZ_B64=")
    assert [r.name for r in plan.by_type(CONTAINER) if "ports" in r.inputs] == ["apigw-lb-haproxy"]
    # After every gateway: HAProxy starts with its servers there.
    gateways = {r.urn for r in plan.by_type(CONTAINER) if r.name.startswith("apigw-gateway-")}
    assert gateways <= set(lb.dependencies)


def test_images_are_pulled_once_per_pinned_reference_and_containers_run_their_ids(plan_of):
    plan = plan_of(STACK)
    assert {r.name: r.inputs for r in plan.by_type(IMAGE)} == {
        "apigw-images-haproxy-3.0.10-alpine": {"name": "haproxy:3.0.10-alpine", "keepLocally": True},
        "apigw-images-nginxinc-nginx-unprivileged-1.27.3-alpine": {
            "name": "nginxinc/nginx-unprivileged:1.27.3-alpine", "keepLocally": True},
        "apigw-images-traefik-whoami-v1.10.3": {"name": "traefik/whoami:v1.10.3", "keepLocally": True},
    }
    by_urn = {r.urn: r for r in plan.resources}
    pulled = {r.name: by_urn[r.property_dependencies["image"][0]].inputs["name"] for r in plan.by_type(CONTAINER)}
    assert pulled["apigw-gateway-1"] == "nginxinc/nginx-unprivileged:1.27.3-alpine"
    assert pulled["apigw-payments-api-2"] == "traefik/whoami:v1.10.3" and pulled["apigw-lb-haproxy"] == \
        "haproxy:3.0.10-alpine"


def test_every_resource_goes_through_the_stacks_docker_provider(plan_of):
    plan = plan_of(STACK)
    [provider] = plan.by_type("pulumi:providers:docker")
    assert provider.name == "apigw-docker" and provider.inputs == {}  # DOCKER_HOST or the local socket
    assert {r.provider.split("::")[-2] for r in plan.resources if r.custom and r is not provider} == {"apigw-docker"}


@pytest.mark.parametrize("host, extra, inputs", [
    ("ssh://deploy@staging-vm", {"ssh_opts": ["-o", "StrictHostKeyChecking=yes"]},
     {"host": "ssh://deploy@staging-vm", "sshOpts": '["-o", "StrictHostKeyChecking=yes"]'}),
    ("tcp://staging-vm:2376", {"cert_path": "/etc/apigw/docker-tls"},
     {"host": "tcp://staging-vm:2376", "certPath": "/etc/apigw/docker-tls"}),
])
def test_a_remote_docker_host_comes_from_config(host, extra, inputs):
    config = copy.deepcopy(stack_config(STACK))
    config["apigw:docker"].update(host=host, **extra)
    [provider] = run_program(STACK, config).by_type("pulumi:providers:docker")
    assert provider.inputs == inputs


def test_scaling_out_adds_containers_renames_none_and_replaces_only_haproxy(plan_of):
    before = {r.name: r for r in plan_of(STACK).by_type(CONTAINER)}
    config = copy.deepcopy(stack_config(STACK))
    config["apigw:gateway"]["instances"] = {"min": 4}
    config["apigw:services"]["users-api"]["instances"] = {"min": 3}
    after = {r.name: r for r in run_program(STACK, config).by_type(CONTAINER)}
    assert set(after) - set(before) == {"apigw-gateway-4", "apigw-users-api-3"} and set(before) <= set(after)
    assert after["apigw-gateway-4"].inputs["name"] == "apigw-staging-gateway-4"
    # The gateways address services by name, so the nginx config does not change; HAProxy lists the gateways.
    assert [name for name in before if before[name].inputs != after[name].inputs] == ["apigw-lb-haproxy"]


# --- how the configs reach their containers, and the real binaries on them --------------------------

def test_the_boot_command_writes_the_config_the_environment_carries(tmp_path):
    text = configs.haproxy_config(spec_of())
    target = tmp_path / "haproxy.cfg"
    command = configs.boot_command("CONFIG_GZ_B64", str(target), "true")
    result = subprocess.run(["/bin/sh", "-c", command], env={"CONFIG_GZ_B64": configs.encode_config(text),
                                                             "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert target.read_text() == text
    assert configs.encode_config(text) == configs.encode_config(text)  # mtime 0: same text, same bytes


@needs_haproxy
@pytest.mark.parametrize("algorithm", sorted(HAPROXY_BALANCE))
def test_haproxy_accepts_the_docker_config(tmp_path, algorithm):
    config = raw()
    config["load_balancer"]["algorithm"] = algorithm
    path = tmp_path / "haproxy.cfg"
    path.write_text(configs.haproxy_config(parse_spec(config)))
    result = subprocess.run([HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    # The gateways' names resolve only on the Docker network: HAProxy starts without them (init-addr none).
    assert "could not resolve address 'apigw-staging-gateway-1'" in result.stdout + result.stderr


def test_the_haproxy_config_names_every_gateway_and_the_docker_dns():
    text = configs.haproxy_config(spec_of())
    assert re.findall(r"^    server .*$", text, re.M) == [
        f"    server gateway-{n} apigw-staging-gateway-{n}:8080 check" for n in (1, 2, 3)]
    assert "    nameserver dns 127.0.0.11:53\n" in text and "    bind :8000\n" in text and "    bind :8404\n" in text
    assert "    default-server inter 10s rise 2 fall 3 resolvers gateways resolve-prefer ipv4 init-addr libc,none\n" \
        in text and "    balance leastconn\n" in text and "    timeout server 35s\n" in text


def _installed_nginx() -> tuple[int, int, int]:
    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr
    return nginx_version_of(f"nginx:{version.split('/')[-1].strip()}")


@needs_nginx
def test_nginx_accepts_the_docker_gateway_config(tmp_path):
    """The config for the installed nginx (Debian's 1.22 has no `server ... resolve`, which the 1.27.3 image's
    config uses; older versions get the per-request form), with /tmp moved under the test's directory."""
    spec = spec_of()
    shipped = configs.gateway_config(spec)
    assert [line.strip() for line in shipped.splitlines() if " resolve " in line] == [
        f"server {s}:8080 resolve max_fails=3 fail_timeout=10s;" for s in SERVICES]
    text = configs.gateway_config(spec, nginx_version=_installed_nginx()).replace("/tmp/", f"{tmp_path}/")
    assert "set_real_ip_from 10.231.1.2/32;" in text and "resolver 127.0.0.11 valid=5s ipv6=off;" in text
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    result = subprocess.run([NGINX, "-t", "-c", str(path), "-p", str(tmp_path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr


# --- the policy pack on the docker resources ----------------------------------------------------

def _prod_copy(tmp_path) -> Path:
    data = yaml.safe_load((STACKS_DIR / f"Pulumi.{STACK}.yaml").read_text())
    data["config"]["apigw:phase"] = "prod"
    path = tmp_path / "Pulumi.docker-prod.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_prod_copy_is_refused_by_the_spec_before_anything_runs(tmp_path, capsys):
    assert main(["--stack-file", str(_prod_copy(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "  apigw:phase: found 'prod'; allowed: dev, staging only on the docker target (one Docker host is a " \
           "single point of failure, never prod: prod runs on aws, azure, gcp, kubernetes)\n" in out
    assert "docker-prod: FAILED (could not be checked)" in out


def test_a_prod_copy_is_refused_by_the_pack_whatever_built_its_resources(plan_of, tmp_path, capsys):
    """The pack judges the resources a real run would send (here: the staging plan's) with the prod copy's config."""
    resources = [{"urn": r.urn, "type": r.type, "inputs": r.inputs, "parent": r.parent,
                  "dependencies": r.dependencies, "propertyDependencies": r.property_dependencies,
                  "custom": r.custom} for r in plan_of(STACK).resources]
    exported = tmp_path / "resources.json"
    exported.write_text(json.dumps(resources))
    assert main(["--resources-json", str(exported), "--stack-config", str(_prod_copy(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert '  mandatory  prod-no-single-host-target: stack config apigw:target is "docker" (containers on one Docker ' \
           "host); prod needs a multi-host target (the aws, azure, gcp or kubernetes target)\n" in out
    assert "apigw-lb (apigw:docker:LoadBalancer)\n  mandatory  prod-no-single-host-target: is a docker-target " \
           "component (containers on one Docker host); prod needs the aws, azure, gcp or kubernetes target\n" in out
    assert "docker-prod: FAIL: 9 mandatory, 3 advisory violation(s)" in out


def captured(plan_of) -> list[Resource]:
    return [Resource.from_captured(r) for r in copy.deepcopy(plan_of(STACK).resources)]


def _one(resources: list[Resource], name: str) -> Resource:
    [found] = [r for r in resources if r.name == name]
    return found


@pytest.fixture(scope="module")
def prod_pack():
    pack = start("prod", target="kubernetes")  # the rules below judge resources, whatever the target says
    yield pack
    pack.close()


def _judged(pack, resources, policy: str) -> list[tuple[str, str, str]]:
    return [(v.resource, v.level, v.message) for v in run(pack, resources) if v.policy == policy]


def test_the_docker_baseline_passes_the_resource_rules(plan_of, prod_pack):
    found = {v.policy for v in run(prod_pack, captured(plan_of))}
    # Only that these are docker components, and the digest rule (advisory everywhere: the stacks pin tags).
    assert found == {"prod-no-single-host-target", "security-image-digest"}


def test_health_checks_the_gateway_and_load_balancer_containers_need_one(plan_of, prod_pack):
    resources = captured(plan_of)
    _one(resources, "apigw-gateway-1").properties["healthcheck"] = {"tests": ["NONE"]}
    assert _judged(prod_pack, resources, "health-checks") == [(
        "apigw-gateway-1", "mandatory",
        'apigw-gateway-1 (docker:index/container:Container): healthcheck.tests is ["NONE"]; a gateway container needs '
        "a health check (a command that probes it, e.g. CMD-SHELL wget of its health path) (health-checks)")]


def test_only_the_load_balancer_container_publishes_a_port(plan_of, prod_pack):
    resources = captured(plan_of)
    _one(resources, "apigw-users-api-1").properties["ports"] = [{"internal": 8080, "external": 9000}]
    assert _judged(prod_pack, resources, "security-no-public-ip") == [(
        "apigw-users-api-1", "mandatory",
        "apigw-users-api-1 (docker:index/container:Container): ports[0] is 0.0.0.0:9000->8080; only the load-balancer "
        "container publishes a port; reach this one through it (security-no-public-ip)")]


def test_a_credential_in_a_containers_environment_is_flagged(plan_of, prod_pack):
    resources = captured(plan_of)
    _one(resources, "apigw-users-api-2").properties["envs"] = ["WHOAMI_PORT_NUMBER=8080", "API_TOKEN=abc"]
    [(resource, level, message)] = _judged(prod_pack, resources, "security-secret-env")
    assert (resource, level) == ("apigw-users-api-2", "mandatory")
    assert message.startswith("apigw-users-api-2 (docker:index/container:Container): envs[API_TOKEN] looks like a "
                              "credential (API_TOKEN) in a plain environment variable; ")


def test_image_rules_read_the_pulled_reference(plan_of, prod_pack):
    resources = captured(plan_of)
    _one(resources, "apigw-images-traefik-whoami-v1.10.3").properties["name"] = "traefik/whoami:latest"
    assert _judged(prod_pack, resources, "security-image-tag") == [(
        "apigw-images-traefik-whoami-v1.10.3", "mandatory",
        'apigw-images-traefik-whoami-v1.10.3 (docker:index/remoteImage:RemoteImage): name is "traefik/whoami:latest"; '
        "prod needs a pinned version tag or digest, never latest (security-image-tag)")]


def test_haproxy_counts_as_the_load_balancer_in_front_of_the_gateway_containers(plan_of, prod_pack):
    resources = captured(plan_of)
    assert _judged(prod_pack, resources, "prod-load-balanced-gateway") == []
    fewer = [r for r in resources if r.name not in ("apigw-gateway-2", "apigw-gateway-3")]
    assert _judged(prod_pack, fewer, "prod-load-balanced-gateway") == [(
        "apigw-lb-haproxy", "mandatory",
        "apigw-lb-haproxy (docker:index/container:Container): routes to apigw-gateway-1 "
        "(docker:index/container:Container), which runs 1 instance(s) at its minimum (1 gateway containers); prod "
        "needs at least 2 gateway instances behind the load balancer (prod-load-balanced-gateway)")]


def test_prod_never_runs_on_the_docker_target():
    with start("prod", target="docker") as pack:
        found = run(pack, [R("apigw:docker:Platform", "apigw", {})])
    assert sorted((v.resource, v.level, v.message) for v in found if v.policy == "prod-no-single-host-target") == [
        ("", "mandatory", 'stack config apigw:target is "docker" (containers on one Docker host); prod needs a '
                          "multi-host target (the aws, azure, gcp or kubernetes target) (prod-no-single-host-target)"),
        ("apigw", "mandatory", "apigw (apigw:docker:Platform): is a docker-target component (containers on one "
                               "Docker host); prod needs the aws, azure, gcp or kubernetes target "
                               "(prod-no-single-host-target)"),
    ]
    with start("staging", target="docker") as pack:
        assert not [v for v in run(pack, [R("apigw:docker:Platform", "apigw", {})])
                    if v.policy == "prod-no-single-host-target"]


def test_the_packs_single_host_targets_are_the_registrys_targets_without_prod():
    from components import targets
    from policies.rules.prod_no_single_host_target import SINGLE_HOST_TARGETS
    assert set(SINGLE_HOST_TARGETS) == {t.name for t in targets.all_targets() if "prod" not in t.phases}
