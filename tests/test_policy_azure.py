"""The Application Gateway fields the policy pack follows, against the installed pulumi-azure-native.

tests/test_policy_tokens.py walks every field of the hand-written Azure baseline
(tests/test_policy_rules.azure_resources) through the SDK's input types; a backend address given
by `fqdn` is not in that baseline (the Azure target pins an ipAddress), so the paths
policies/rules/topology.az_gateway_reach reads are checked here by the same walker.
"""
from __future__ import annotations

import pytest

from policies.rules import types as T
from tests.test_policy_tokens import _args_class, _missing

GATEWAY_POOL_PATHS = ["backendAddressPools.name", "backendAddressPools.backendAddresses.ipAddress",
                      "backendAddressPools.backendAddresses.fqdn"]


@pytest.mark.parametrize("path", GATEWAY_POOL_PATHS)
def test_app_gateway_pool_fields_exist_in_the_installed_sdk(path):
    assert _missing([_args_class(T.AZ_APP_GATEWAY)], path) is None


def test_the_walker_notices_a_misspelt_pool_field():
    assert _missing([_args_class(T.AZ_APP_GATEWAY)], "backendAddressPools.backendAddresses.ipAddres") == \
        "backendAddressPools.backendAddresses.ipAddres"
