# The two commands of the README's quick start, and a few helpers.
.PHONY: run test test-rust e2e dev bench bench-size fmt lint setup

run:        ## Build (release) and run the product at http://127.0.0.1:3000/ConMasManager/System/MailSetting
	scripts/run.sh

test:       ## Install what is missing, then run every test (Rust unit + integration, Playwright)
	scripts/test.sh

setup:      ## Only install the tools (idempotent)
	scripts/setup.sh

dev:        ## Debug build with live reload
	cargo leptos watch

test-rust:  ## Rust tests only
	LEPTOS_OUTPUT_NAME=mail-settings cargo test --release --workspace --exclude frontend --features app/ssr

e2e:        ## Browser tests only (pass ARGS="-g 'port 465'" to pick tests)
	scripts/e2e.sh $(ARGS)

bench:      ## Notifications accepted/s and delivered/s (pool on/off) vs Postfix smtp-source: target/bench.txt
	scripts/bench.sh

bench-size: ## Release bundle sizes, first loads, Lighthouse, hydration long tasks: target/{bundle-size,first-load,lighthouse,long-tasks}.txt
	scripts/bundle-size.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude frontend --features app/ssr --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
