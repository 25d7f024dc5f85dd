# The everyday commands. `just --list` shows them.

config := "runtime.toml"

# Serve the example deployment (runtime.toml) on the embedded defaults,
# with a token secret of this machine's own unless MODHOST_AUTH_SECRET is set.
run: guests
    MODHOST_AUTH_SECRET="${MODHOST_AUTH_SECRET:-$(scripts/dev-secret)}" cargo run --release --bin modhost -- serve --config {{config}}

# Build every guest module under guest-modules/ into target/guests/.
guests:
    scripts/build-guests

# Run every test: guests built from source, then unit and end-to-end tests.
# The MongoDB checks are ignored (shown as such) unless
# MODHOST_TEST_MONGODB_URI names a server; then they run too.
test: guests
    cargo test --release --workspace
    if [ -n "${MODHOST_TEST_MONGODB_URI:-}" ]; then cargo test --release -p modhost-docstore --test db_behaviour --test db_conformance -- --ignored mongodb::; fi

# Make a module under guest-modules/ that builds and answers GET /<name>/hello;
# lang is rust, python or js. Prints the runtime.toml lines that deploy it.
new name lang="rust":
    cargo run --release --bin modhost -- new {{name}} --lang {{lang}}

# Check a config without serving: modules, routes, errors.
check: guests
    MODHOST_AUTH_SECRET="${MODHOST_AUTH_SECRET:-$(scripts/dev-secret)}" cargo run --release --bin modhost -- check --config {{config}}

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all --check
    cd guest-modules && cargo fmt --all --check
    cargo clippy --release --workspace --all-targets -- -D warnings

# The benchmark table: plain hyper, modhost's routes (info, db read and
# write, cache read, module call, a mounted wasi:http hello), the Flask
# original on the same routes and `wasmtime serve` on the same wasi:http
# hello (installed with cargo into target/bench-tools the first time), in
# one run with the same load generator; then hosts of 1, 100 and 1000
# modules and of 1000 tenants sharing one component; then a module in each
# language, fresh and reused (BENCHMARKS.md records a run).
bench: guests
    bench/table

# The detailed benchmarks, each with its own baselines: requests per second
# against plain hyper, db and cache calls through a guest against the same
# calls from Rust, the data routes against the Flask original (1k to 1M
# records), what a bearer-token check costs, a well-behaved module's latency
# under attack against without (containment).
bench-details: guests
    bench/serve
    bench/db
    bench/db-routes
    bench/auth
    bench/cache
    bench/attack
