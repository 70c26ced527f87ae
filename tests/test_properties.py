"""Property tests of the pure calculators: rules that must hold for every input, not just the
stacks we ship (Hypothesis draws the inputs and shrinks any counterexample)."""
from __future__ import annotations

import ipaddress
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from components.aws.network import MAX_ZONE_SLOTS, Zone, subnet_cidrs
from components.aws.sizing import FARGATE_SIZES, cpu_units, fargate_task_size
from components.local.options import LocalOptions, planned_ports, port_conflicts, service_port

PRIVATE_RANGES = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


@st.composite
def vpc_cidrs(draw) -> str:
    base = draw(st.sampled_from(PRIVATE_RANGES))
    prefix = draw(st.integers(max(16, base.prefixlen), 24))
    networks = 2 ** (prefix - base.prefixlen)
    index = draw(st.integers(0, networks - 1))
    return str(ipaddress.IPv4Network((int(base.network_address) + index * 2 ** (32 - prefix), prefix)))


zones = st.integers(0, MAX_ZONE_SLOTS - 1).map(lambda slot: Zone(f"r-1{chr(97 + slot)}", chr(97 + slot), slot))


@given(vpc_cidrs(), st.lists(zones, min_size=1, max_size=MAX_ZONE_SLOTS, unique_by=lambda z: z.slot))
def test_subnets_lie_inside_the_vpc_and_never_overlap(vpc, chosen):
    network = ipaddress.IPv4Network(vpc)
    subnets = [ipaddress.IPv4Network(cidr) for zone in chosen for cidr in subnet_cidrs(vpc, zone)]
    assert all(s.subnet_of(network) and s.prefixlen == network.prefixlen + 4 for s in subnets)
    assert all(not a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])


@given(vpc_cidrs(), zones)
def test_a_zones_subnets_follow_its_letter_not_the_other_zones(vpc, zone):
    """Adding or removing another zone never renumbers this one (no replacement of its subnets)."""
    assert subnet_cidrs(vpc, zone) == subnet_cidrs(vpc, Zone("elsewhere", zone.key, zone.slot))


@given(st.integers(1, 20000), st.integers(1, 130000))
def test_the_task_size_is_the_smallest_fargate_size_that_holds_both(cpu, memory):
    try:
        size = fargate_task_size(cpu, memory)
    except ValueError as err:
        assert "the largest Fargate task" in str(err)
        assert not any(c >= cpu and m >= memory for c, ms in FARGATE_SIZES.items() for m in ms)
        return
    task_cpu, task_memory = size
    assert task_memory in FARGATE_SIZES[task_cpu] and task_cpu >= cpu and task_memory >= memory
    fitting = [(c, m) for c, ms in FARGATE_SIZES.items() for m in ms if c >= cpu and m >= memory]
    assert size == min(fitting)


@given(st.integers(1, 64000), st.integers(1, 64000))
def test_cpu_units_round_up_and_keep_order(a, b):
    units = cpu_units(a)
    assert units * 1000 >= a * 1024 > (units - 1) * 1000  # the smallest whole unit count that covers a
    if a <= b:
        assert units <= cpu_units(b)


def _spec(gateways: int, counts: list[int]):
    services = tuple(SimpleNamespace(name=f"svc-{k}", instances=SimpleNamespace(min=n)) for k, n in enumerate(counts))
    return SimpleNamespace(gateway=SimpleNamespace(instances=SimpleNamespace(min=gateways)), services=services)


ports = st.integers(1024, 60000)


@settings(max_examples=200)
@given(ports, ports, ports, ports, st.integers(1, 50), st.integers(1, 8),
       st.lists(st.integers(1, 12), min_size=1, max_size=6))
def test_local_ports_are_unique_exactly_when_no_conflict_is_reported(lb, stats, gateway_base, service_base, stride,
                                                                     gateways, counts):
    options = LocalOptions(load_balancer_port=lb, haproxy_stats_port=stats, gateway_base_port=gateway_base,
                           service_base_port=service_base, service_port_stride=stride)
    spec = _spec(gateways, counts)
    uses = planned_ports(options, spec)
    assert len(uses) == 2 + gateways + sum(counts)
    distinct = len({u.port for u in uses}) == len(uses)
    assert distinct == (port_conflicts(uses) == [])
    for k, count in enumerate(counts):
        planned = [u.port for u in uses if u.user.startswith(f"svc-{k} ")]
        assert planned == [service_port(options, spec, f"svc-{k}", i) for i in range(1, count + 1)]
