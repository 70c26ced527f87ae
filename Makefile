# The interface users and CI see. Everything except `up` runs offline (no Pulumi CLI, no cloud).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?=

.PHONY: pulumi-cli help setup test lint plan manifests check preview up destroy loadtest bench-local local-status local-logs promote drift

help:
	@echo "make setup                      create $(VENV) and install requirements (idempotent)"
	@echo "make test                       the whole test suite"
	@echo "make lint                       ruff, zizmor (workflows), shellcheck (scripts, run: blocks); any finding fails"
	@echo "make plan STACK=kubernetes-prod offline plan under Pulumi's mocks [MANIFESTS=dir]"
	@echo "make plan PROGRAM=examples/kubernetes-gateway-python  the same for a program of its own"
	@echo "make check [STACK=aws-prod]     offline policy check (every stack when STACK is unset); exit 1 on a mandatory violation"
	@echo "make up STACK=local-dev         pulumi up (installs the Pulumi CLI if missing; local file backend by default)"
	@echo "make loadtest URL=... [REQUESTS=600] [CONCURRENCY=8] [MAX_ERROR_RATE=1]  bounded load; fails above 1 % errors"
	@echo "make bench-local                distribution, latency/throughput per hop, failures, changes under load, algorithms (local)"
	@echo "make local-status [STACK=local-dev]  every local process: ports, pid, state, health, restarts, log"
	@echo "make local-logs [STACK=local-dev]    follow every local process's logs (tail -F)"
	@echo "make promote FROM=aws-staging TO=aws-prod [DRY_RUN=1] [UP=1]  move the release (images) to prod, checked"
	@echo "make drift STACK=aws-prod       preview-only refresh that fails when the cloud drifted from the state (CLI)"

# Idempotent: the venv is created once; pip install is re-run only when requirements change.
# The components are installed editable as apigw_platform (pyproject.toml), as users import them.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m pytest -q

# The linters (requirements-dev.txt) go into the same venv on the first `make lint` only, so the CI
# jobs that hold cloud credentials (make setup) never install them. Idempotent like setup.
$(VENV)/.lint-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Every linter runs, then any finding fails. Justified exceptions live next to what they excuse:
# ruff's in pyproject.toml, zizmor's as `# zizmor: ignore[rule] reason` comments in the YAML,
# shellcheck's as `# shellcheck disable=SCnnnn` comments in the script. actionlint runs where it is
# installed (no registry package ships its binary for CI; see requirements-dev.txt).
lint: $(VENV)/.lint-installed
	@status=0; \
	echo "== ruff check"; $(VENV)/bin/ruff check --output-format=concise . || status=1; \
	echo "== zizmor (offline)"; $(VENV)/bin/zizmor --offline --strict-collection --quiet \
	  .github/workflows .github/actions .github/dependabot.yml || status=1; \
	echo "== shellcheck"; $(VENV)/bin/shellcheck .ci/run $$(git ls-files '*.sh' '*.bash') || status=1; \
	$(PY) -m tools.workflow_shell || status=1; \
	if command -v actionlint >/dev/null; then echo "== actionlint"; actionlint || status=1; \
	else echo "== actionlint: not installed, skipped"; fi; \
	exit $$status

plan: setup
	@$(PY) -m tools.plan $(STACK) $(if $(PROGRAM),--program $(PROGRAM)) $(if $(MANIFESTS),--manifests $(MANIFESTS))

check: setup
	@$(PY) -m tools.check $(STACK)

loadtest: setup
	@test -n "$(URL)" || { echo "name a URL: make loadtest URL=http://127.0.0.1:8000/users [REQUESTS=600] [CONCURRENCY=8]"; exit 2; }
	@$(PY) -m tools.loadtest --url "$(URL)" --requests $(or $(REQUESTS),600) --concurrency $(or $(CONCURRENCY),8) --out $(or $(OUT),build/loadtest) $(if $(MAX_ERROR_RATE),--max-error-rate $(MAX_ERROR_RATE))

bench-local: setup
	@$(PY) -m tools.bench_local

local-status: setup
	@$(PY) -m tools.local_status --stack $(or $(STACK),local-dev)

local-logs: setup
	@$(PY) -m tools.local_status --stack $(or $(STACK),local-dev) --logs

manifests: setup
	@$(PY) -m tools.plan $(STACK) --manifests $(or $(MANIFESTS),build/manifests/$(STACK))

# The real thing: needs the Pulumi CLI, run through tools/pulumi_cli.py: PULUMI_BACKEND_URL, else the
# current `pulumi login`, else a file backend under the repo (.pulumi-state/); a passphrase-encrypted stack
# needs PULUMI_CONFIG_PASSPHRASE (or _FILE) set, never an empty one by accident.
# Listed first among the prerequisites of the CLI targets, so nothing is installed in vain.
# (A missing CLI is installed by tools/pulumi_cli.py, matching the pinned SDK, into .pulumi-cli/.)
pulumi-cli:
	@test -n "$(STACK)" || { echo "name a stack: STACK=<target>-<phase> (see stacks/)"; exit 2; }
PULUMI = $(PY) -m tools.pulumi_cli

# The CLI runs the policy pack from its own virtualenv (policies/venv), created here once.
policies/venv/.installed: policies/requirements.txt
	test -x policies/venv/bin/python || python3 -m venv policies/venv
	policies/venv/bin/python -m pip install --quiet --disable-pip-version-check -r policies/requirements.txt
	touch $@

# Every real preview and update runs the policy pack: a prod stack on one host is refused
# by the CLI itself, not only by `make check`. With cloud credentials, tools/preflight.py first looks up
# what an aws stack names (certificate issued, alarm topic, image-cache secret) and refuses by key.
preview up: pulumi-cli setup policies/venv/.installed
	@$(PY) -m tools.plan $(STACK) > /dev/null
	@$(PY) -m tools.preflight $(STACK)
	$(PULUMI) stack select --create $(STACK)
	$(PULUMI) $@ --stack $(STACK) --policy-pack policies

destroy: pulumi-cli setup
	$(PULUMI) destroy --stack $(STACK)

# A release moves from staging to prod by a reviewed change of the prod stack file (tools/promote.py):
# diffs, offline plans and the policy pack first; DRY_RUN=1 writes nothing; UP=1 then previews and updates.
promote: setup
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "name both: make promote FROM=<target>-staging TO=<target>-prod"; exit 2; }
	@$(PY) -m tools.promote $(FROM) $(TO) $(if $(DRY_RUN),--dry-run) $(PROMOTE_ARGS)
	@if [ -n "$(UP)" ] && [ -z "$(DRY_RUN)" ]; then $(MAKE) --no-print-directory up STACK=$(TO); fi

# Drift: a preview-only refresh exits 0 even when it finds changes, so --expect-no-changes makes it fail.
drift: pulumi-cli setup
	$(PULUMI) preview --refresh --expect-no-changes --diff --stack $(STACK)
