# Outflow: `make run` runs the whole pipeline locally, `make test` runs every test.
SHELL := /bin/bash
RUN_PORT ?= 4566
TEST_PORT ?= 4567

# Fake credentials for the local emulator; nothing here ever reaches AWS.
AWS_ENV := AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
	AWS_EC2_METADATA_DISABLED=true

.PHONY: run test lint receiver setup measure fuzz

setup:
	infra/local-stack.sh setup

## run: moto on 127.0.0.1:$(RUN_PORT), then the local runner on 127.0.0.1:8080
run: setup
	infra/local-stack.sh start $(RUN_PORT)
	trap 'infra/local-stack.sh stop $(RUN_PORT)' EXIT; \
	$(AWS_ENV) AWS_ENDPOINT_URL=http://127.0.0.1:$(RUN_PORT) OUTFLOW_ALLOW_LOOPBACK_TARGETS=1 \
	OUTFLOW_VISIBILITY_TIMEOUT=$${OUTFLOW_VISIBILITY_TIMEOUT:-20} \
	cargo run --quiet -p outflow-local --bin outflow-local

## receiver: a demo webhook receiver on 127.0.0.1:9000 that prints what it gets
receiver:
	cargo run --quiet -p outflow-local --bin outflow-demo-receiver

## lint: formatting, clippy, template
lint: setup
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings
	.venv/bin/cfn-lint template.yaml

## test: lint, the binaries (the telemetry tests run them against a local Lambda runtime API),
## unit and end-to-end tests against moto on 127.0.0.1:$(TEST_PORT), the chaos tests (their
## figures printed), then the README walkthrough with the real local runner binary
test: lint
	infra/local-stack.sh start $(TEST_PORT)
	trap 'infra/local-stack.sh stop $(TEST_PORT)' EXIT; \
	export $(AWS_ENV) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_PORT) OUTFLOW_ALLOW_LOOPBACK_TARGETS=1; \
	cargo build --workspace --bins --locked && \
	cargo test --workspace --locked -- --skip survive_a_flaky_receiver && \
	cargo test --locked -p outflow-e2e --test chaos -- --nocapture && \
	$(AWS_ENV) infra/smoke-walkthrough.sh $(TEST_PORT)

## measure: AWS requests per 1,000 messages and the aggregator's time for PENDING_CHATS chats
PENDING_CHATS ?= 10000
measure: setup
	infra/local-stack.sh start $(TEST_PORT)
	trap 'infra/local-stack.sh stop $(TEST_PORT)' EXIT; \
	$(AWS_ENV) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_PORT) \
	cargo run --release --quiet -p outflow-local --bin outflow-measure -- $(PENDING_CHATS)

## fuzz: the inbound-parser properties with FUZZ_CASES cases each (CI runs 3,000 in `make test`)
FUZZ_CASES ?= 100000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release --locked -p outflow --test inbound_fuzz
