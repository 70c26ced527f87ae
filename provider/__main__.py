"""Serve the components (components/multilang.py) as the Pulumi package `apigw`.

The Pulumi CLI runs this folder as a plugin: `python provider <engine address>`. It prints its port
and answers GetSchema and Construct; the schema comes from the components' annotated Args.
"""
import pathlib
import sys

# The checkout's root, so `components` imports from this same repository at this same commit.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from pulumi.provider.experimental import component_provider_host  # noqa: E402

from components.multilang import COMPONENTS, PACKAGE, VERSION  # noqa: E402

if __name__ == "__main__":
    component_provider_host(components=COMPONENTS, name=PACKAGE, version=VERSION)
