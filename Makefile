# The two set-up commands of the README. Each creates .venv when missing.
.PHONY: demo test venv

venv:
	@bash scripts/bootstrap.sh

demo: venv
	.venv/bin/umair demo $(ARGS)

test: venv
	.venv/bin/python -m pytest $(ARGS)
