# Shared by the HTTP benchmarks (bench/serve, bench/db-routes): installing
# wrk, starting a server on a free port, and measuring a URL with wrk
# together with the server's CPU time. Source it after setting $work, a
# scratch folder, and the `pids` array (the servers to stop on exit).

# Installs wrk when it is missing and this is root; stops otherwise.
need_wrk() {
    command -v wrk >/dev/null 2>&1 && return
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "$0 needs wrk: sudo apt-get install wrk" >&2
        exit 1
    fi
}

# Sets $venv to a virtual environment under target/ holding the Flask
# peer's packages (bench/flask-peer/requirements.txt, from PyPI), made or
# completed when needed.
need_flask_peer() {
    venv=$root/target/bench-venv
    "$venv/bin/python" -c 'import flask, gunicorn' 2>/dev/null && return
    python3 -m venv "$venv" || { echo "$0 needs python3-venv" >&2; exit 1; }
    "$venv/bin/pip" install -q -r bench/flask-peer/requirements.txt >&2
}

# A bearer token of the example deployment's admin (runtime.toml), from
# the modhost at address $1.
admin_token() {
    curl -fsS -H 'content-type: application/json' \
        -d '{"email": "admin@example.com", "password": "admin-demo-password"}' \
        "http://$1/auth/login" | sed -E 's/.*"token":"([^"]+)".*/\1/'
}

# The 50th and 99th percentile latencies of the last `measure`, in ms.
percentiles() {
    awk '
        function ms(value) {
            if (value ~ /us$/) return value / 1000
            if (value ~ /ms$/) return value + 0
            if (value ~ /m$/) return value * 60000
            return value * 1000
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END { print p50, p99 }' "$work/wrk.txt"
}

# Starts a server that says "listening on|at [http://]ADDR" (or, as
# `wasmtime serve` does, "Serving HTTP on http://ADDR/") on stdout or
# stderr, and sets $addr to that address and $pid to its process; waits
# $start_seconds (default 60) for it.
start() {
    local name=$1
    shift
    "$@" >"$work/$name.out" 2>"$work/$name.err" &
    pid=$!
    pids+=("$pid")
    addr=
    for _ in $(seq 1 $((${start_seconds:-60} * 10))); do
        addr=$(cat "$work/$name.out" "$work/$name.err" |
            sed -n 's/.*\([Ll]istening \(on\|at\):\{0,1\}\|Serving HTTP on\) \(http:\/\/\)\{0,1\}\([0-9.:]*\).*/\4/p' | head -n1)
        [ -n "$addr" ] && return
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$name did not start: $(cat "$work/$name.err")" >&2
    exit 1
}

# CPU time (user + system, in clock ticks) used so far by process $1 and
# its children (gunicorn's workers).
cpu_ticks() {
    local total=0 ticks child
    ticks=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0)
    total=$((total + ticks))
    for child in $(pgrep -P "$1" || true); do
        total=$((total + $(cpu_ticks "$child")))
    done
    echo "$total"
}

# measure URL PID CONNECTIONS SECONDS [wrk options...]: runs wrk against
# URL, served by process PID; echoes its requests per second and the
# server's CPU time per request in microseconds. Stops on a non-2xx answer.
measure() {
    local url=$1 server=$2 connections=$3 seconds=$4 before after
    shift 4
    before=$(cpu_ticks "$server")
    wrk -t1 -c"$connections" -d"${seconds}s" --latency "$@" "$url" >"$work/wrk.txt"
    after=$(cpu_ticks "$server")
    if grep -q 'Non-2xx' "$work/wrk.txt"; then
        echo "non-2xx responses from $url" >&2
        cat "$work/wrk.txt" >&2
        exit 1
    fi
    awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        / requests in / { requests = $1 }
        /Requests\/sec/ { rate = $2 }
        END { print rate, ticks / hz * 1e6 / requests }' "$work/wrk.txt"
}
