# The two set-up commands of the README (demo, test), plus the quick checks. Each creates .venv when missing.
.PHONY: demo test test-fast test-cluster lint format typecheck venv

venv:
	@bash scripts/bootstrap.sh

demo: venv
	.venv/bin/umair demo $(ARGS)

test: venv                  # everything, what CI runs (after lint and typecheck)
	.venv/bin/python -m pytest $(ARGS)

test-fast: venv             # tests that start neither Spark nor Ray (under 3 minutes)
	.venv/bin/python -m pytest -m "not slow" $(ARGS)

test-cluster: venv          # only the tests that start a multi-node Ray or standalone Spark cluster (CI runs them in `test`)
	.venv/bin/python -m pytest -m cluster $(ARGS)

lint: venv                  # ruff: lint rules, import order, formatting (check only)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: venv                # apply ruff's fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

typecheck: venv             # mypy: strict on umair_models, checked bodies on ray_apps and spark_jobs
	.venv/bin/mypy
