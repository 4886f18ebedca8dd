# Outflow: `make run` runs the whole pipeline locally, `make test` runs every test.
SHELL := /bin/bash
RUN_PORT ?= 4566
TEST_PORT ?= 4567

# Fake credentials for the local emulator; nothing here ever reaches AWS.
AWS_ENV := AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
	AWS_EC2_METADATA_DISABLED=true

.PHONY: run test lint receiver setup measure cost fuzz package lambda-zips smoke-zips footprint bench bench-smoke wrk openapi browser

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

# The SAM CLI offline: no telemetry, Rust builds through cargo-lambda from .venv/bin.
SAM := PATH=$(CURDIR)/.venv/bin:$$PATH SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 \
	.venv/bin/sam

## openapi: regenerate docs/openapi.json from the handlers (a test fails when it is stale)
openapi:
	cargo run --quiet --locked -p outflow-local --bin outflow-openapi -- docs/openapi.json

## lint: formatting, clippy, template (cfn-lint and sam validate)
lint: setup
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings
	.venv/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml --region us-east-1

## test: lint, the binaries (the telemetry tests run them against a local Lambda runtime API),
## unit and end-to-end tests against moto on 127.0.0.1:$(TEST_PORT) (the portal's in headless
## Chromium, installed by `make browser`), the chaos run (second
## edition, its figures printed), the README walkthrough with the real local runner binary, then the
## x86_64 Lambda zips with their sizes and init times
test: lint browser
	infra/local-stack.sh start $(TEST_PORT)
	trap 'infra/local-stack.sh stop $(TEST_PORT)' EXIT; \
	export $(AWS_ENV) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_PORT) OUTFLOW_ALLOW_LOOPBACK_TARGETS=1; \
	cargo build --workspace --bins --locked && \
	cargo test --workspace --locked -- --skip chaos_second_edition && \
	cargo test --workspace --locked --test e2e chaos_second_edition -- --nocapture && \
	$(AWS_ENV) infra/smoke-walkthrough.sh $(TEST_PORT)
	$(MAKE) --no-print-directory bench-smoke

## package: sam build, an arm64 bootstrap per function in .aws-sam/build (docs/deploy.md);
## needs rustup's aarch64-unknown-linux-gnu standard library
package: setup
	rustup target list --installed | grep -q aarch64-unknown-linux-gnu || \
		rustup target add aarch64-unknown-linux-gnu
	$(SAM) build --template template.yaml --beta-features

## lambda-zips: the functions' release bootstrap zips for x86_64 in target/lambda
LAMBDA_PACKAGES := -p outflow-ingest -p outflow-api -p outflow-sender -p outflow-aggregator
LAMBDA_ZIP_FLAGS ?= --release
lambda-zips: setup
	PATH=$(CURDIR)/.venv/bin:$$PATH cargo lambda build $(LAMBDA_ZIP_FLAGS) --x86-64 --output-format zip \
		--locked $(LAMBDA_PACKAGES)

## smoke-zips: the same zips in the quick smoke-zips profile (no LTO, opt-level 1), what CI
## builds to check that they package and start
smoke-zips:
	$(MAKE) --no-print-directory lambda-zips LAMBDA_ZIP_FLAGS="--profile smoke-zips --disable-optimizations"

## footprint: zip sizes and init times of the lambda-zips builds (FOOTPRINT_RUNS starts each)
FOOTPRINT_RUNS ?= 20
footprint: lambda-zips
	cargo run --quiet --locked -p outflow-local --bin outflow-footprint -- $(FOOTPRINT_RUNS)

## bench: the performance benchmarks, then one table of figures and targets (docs/performance.md):
## AWS requests per 1,000 messages (moto), the delivery engine against wrk (BENCH_SECONDS),
## CPU per message (criterion), and the Lambda footprint
BENCH_SECONDS ?= 10
bench: setup wrk lambda-zips
	infra/local-stack.sh start $(TEST_PORT)
	trap 'infra/local-stack.sh stop $(TEST_PORT)' EXIT; \
	$(AWS_ENV) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_PORT) \
	cargo run --release --quiet --locked -p outflow-local --bin outflow-measure -- 0
	cargo bench --locked -p outflow --bench cpu
	cargo run --release --quiet --locked -p outflow-local --bin outflow-throughput -- $(BENCH_SECONDS)
	cargo run --quiet --locked -p outflow-local --bin outflow-footprint -- $(FOOTPRINT_RUNS)
	cargo run --release --quiet --locked -p outflow-local --bin outflow-bench-report
	cargo run --release --quiet --locked -p outflow-local --bin outflow-bench-report -- \
		--write-cost-table docs/deploy.md

## cost: the cost run alone (AWS's bill per million messages, docs/performance.md §0) on
## release builds of the functions, then the cost table of docs/deploy.md written from it
cost: setup
	cargo build --release --locked -p outflow-ingest -p outflow-sender -p outflow-aggregator
	# The cost run takes the newest build of each function: a build that changed nothing
	# leaves these older than a debug build made since.
	cd $${CARGO_TARGET_DIR:-target}/release && touch outflow-ingest outflow-sender outflow-aggregator
	infra/local-stack.sh start $(TEST_PORT)
	trap 'infra/local-stack.sh stop $(TEST_PORT)' EXIT; \
	$(AWS_ENV) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_PORT) \
	cargo run --release --quiet --locked -p outflow-local --bin outflow-measure -- --cost-only
	cargo run --release --quiet --locked -p outflow-local --bin outflow-bench-report -- \
		--write-cost-table docs/deploy.md

## bench-smoke: every benchmark briefly, on the debug builds (CI checks that they run; the
## figures are not the ones to quote), the footprint too (the functions' debug binaries
## start against the runtime API emulator; `make lambda-zips`/`smoke-zips` build the zips)
bench-smoke: setup wrk
	infra/local-stack.sh start $(TEST_PORT)
	trap 'infra/local-stack.sh stop $(TEST_PORT)' EXIT; \
	$(AWS_ENV) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_PORT) \
	cargo run --quiet --locked -p outflow-local --bin outflow-measure -- 300 --not-due 300 --cost-chats 10
	cargo test --workspace --locked --bench cpu -- --bench --warm-up-time 0.2 --measurement-time 1 \
		--sample-size 10
	cargo run --quiet --locked -p outflow-local --bin outflow-throughput -- 1
	cargo run --quiet --locked -p outflow-local --bin outflow-footprint -- 5
	cargo run --quiet --locked -p outflow-local --bin outflow-bench-report

wrk:
	infra/install-wrk.sh

## browser: Debian's Chromium and ChromeDriver, and axe-core (npm), for the portal's browser test
browser:
	infra/install-chromium.sh

## measure: AWS requests per 1,000 messages, then one aggregator run for each of PENDING_CHATS
## pending chats (requests and items read per window, time), each in a table that also holds
## NOT_DUE chats whose windows are not due yet
PENDING_CHATS ?= 1000 10000 100000
NOT_DUE ?= 0
measure: setup lambda-zips
	infra/local-stack.sh start $(TEST_PORT)
	trap 'infra/local-stack.sh stop $(TEST_PORT)' EXIT; \
	$(AWS_ENV) AWS_ENDPOINT_URL=http://127.0.0.1:$(TEST_PORT) \
	cargo run --release --quiet --locked -p outflow-local --bin outflow-measure -- \
		$(PENDING_CHATS) --not-due $(NOT_DUE)

## fuzz: the inbound-parser properties with FUZZ_CASES cases each (CI runs 3,000 in `make test`)
FUZZ_CASES ?= 100000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release --locked -p outflow --test inbound_fuzz
