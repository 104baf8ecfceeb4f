# Challenge Hub: run, test, regenerate stubs, lint and benchmark.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTO_OUT ?= hub_client
PROTOS := $(wildcard protos/hub/v1/*.proto)

.PHONY: run test proto lint bench deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

## make run: a working hub on localhost (SQLite under var/, embedded DNS, the bridge)
run: $(STAMP)
	$(PY) -m hub_server.devrun

## make test: install what the tests need, then run the whole suite
test: $(STAMP) deps
	$(PY) -m pytest

deps:
	bash tests/install-debian-packages.sh

## make proto: regenerate the stubs and type stubs under hub_client/hub/v1
proto: $(STAMP)
	mkdir -p $(PROTO_OUT)
	$(PY) -m grpc_tools.protoc -I protos \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
		--python_out=$(PROTO_OUT) \
		--grpc_python_out=$(PROTO_OUT) --mypy_out=$(PROTO_OUT) \
		--mypy_grpc_out=$(PROTO_OUT) $(PROTOS)
	# The stubs live inside the hub_client package, so their imports must say so.
	sed -i -E 's/^from hub\.v1 import/from hub_client.hub.v1 import/' \
		$(PROTO_OUT)/hub/v1/*_pb2*.py $(PROTO_OUT)/hub/v1/*.pyi
	sed -i -E 's/(^|[^A-Za-z0-9_.])hub\.v1\./\1hub_client.hub.v1./g' \
		$(PROTO_OUT)/hub/v1/*.pyi
	touch $(PROTO_OUT)/hub/__init__.py $(PROTO_OUT)/hub/v1/__init__.py

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy hub_server hub_client storage providers

bench: $(STAMP) deps
	$(PY) -m bench

clean:
	rm -rf $(VENV) var
