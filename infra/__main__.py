"""The Pulumi program: read and validate the stack's spec, then build its target."""
import pathlib
import sys

# Pulumi runs this file with infra/ as the working directory; the components live beside it.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from infra.program import main  # noqa: E402

main()
