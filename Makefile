# The two commands at the top of the README are `make demo` and `make test`; each does its
# own set-up (scripts/bootstrap.sh) and is safe to run again.
.PHONY: demo test lint venv clean

venv:
	@scripts/bootstrap.sh

demo: venv
	@scripts/demo.sh

test:
	@scripts/test.sh

lint: venv
	.venv/bin/ruff check vidaudit tests bench
	.venv/bin/ruff format --check vidaudit tests bench
	.venv/bin/mypy vidaudit
	.venv/bin/lint-imports --no-cache

clean:
	rm -rf .venv data .cache test-artifacts
