# Two commands for a user (README): `make sync` and `make test`. Both build the virtualenv they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: sync test test-without-speed-layer schemas bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

## A real sync of every stream: against the local emulator, or a real account with CONFIG=path/to/config.json
sync: $(INSTALLED)
	$(BIN)/python scripts/sync.py $(if $(CONFIG),--config $(CONFIG))

## The whole test suite, offline
test: $(INSTALLED)
	$(BIN)/python -m pytest

## The suite with the speed layer off (source_chartmogul/speed/): the manifest's own rules for every record, same results
test-without-speed-layer: $(INSTALLED)
	SOURCE_CHARTMOGUL_SPEED=off $(BIN)/python -m pytest -m 'not image_tests and not requires_creds'

## Regenerate the manifest's inline schemas from source_chartmogul/schemas/*.json
schemas: $(INSTALLED)
	$(BIN)/python scripts/inline_schemas.py

## Our connector against the official one on the emulator (not part of `make test`); e.g. BENCH_ARGS="--quick"
bench: $(INSTALLED)
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
