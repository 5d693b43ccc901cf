# Shared by the infra/bench-*.sh scripts that run `atrack serve` (sourced, not run).

# A free loopback port.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 10 s for the server at $1 (a base URL) to answer /health; fails loudly otherwise.
wait_for_health() {
    for _ in $(seq 1 100); do
        curl -fsS "$1/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$(basename "$0"): atrack serve did not come up at $1" >&2
    exit 1
}
