# The two commands at the top of the README are `make demo` and `make test`; each does its
# own set-up (scripts/bootstrap.sh) and is safe to run again.
.PHONY: demo test lint venv lock add clean

venv:
	@scripts/bootstrap.sh

demo: venv
	@scripts/demo.sh

test:
	@scripts/test.sh

lint: venv
	.venv/bin/ruff check vidaudit tests bench scripts
	.venv/bin/ruff format --check vidaudit tests bench scripts
	.venv/bin/mypy vidaudit
	.venv/bin/lint-imports --no-cache

# Recompile requirements/*.lock from pyproject.toml (keeps every pin that still fits).
#   make lock                      after changing a range in pyproject.toml
#   make lock UPGRADE=1            newest versions the ranges allow
#   make lock UPGRADE='fastapi starlette'   newest of these only (and what they need)
lock:
	@python3 scripts/lock.py compile $(if $(filter 1,$(UPGRADE)),--upgrade,$(foreach p,$(UPGRADE),--upgrade-package $(p)))
	@scripts/bootstrap.sh

# Add a dependency: pyproject.toml, the locks and .venv in one step.
#   make add DEP='xmlschema>=3.4'             (the package needs it to run)
#   make add DEP='import-linter>=2.1' EXTRA=test   (only tests and lint need it)
add:
	@test -n "$(DEP)" || { echo "usage: make add DEP='name>=version' [EXTRA=test]" >&2; exit 2; }
	@python3 scripts/lock.py add '$(DEP)' $(if $(EXTRA),--extra $(EXTRA))
	@scripts/bootstrap.sh

clean:
	rm -rf .venv data .cache test-artifacts dist
