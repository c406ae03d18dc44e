#!/usr/bin/env bash
# Runs the W3C VC Data Model 2.0 test suite (vendored in suite/, see README.md) against a
# throwaway local Verity: built-in HTTPS on 127.0.0.1:<free port> with a self-signed
# certificate for `localhost`, a temporary data dir, an API key of the bootstrapped tenant, and
# its did:web:localhost%3A<port> authority as the suite's issuer.
#
#   bash tests/w3c-vcdm2/run.sh                 # build, install, run everything
#   bash tests/w3c-vcdm2/run.sh --grep Contexts # extra arguments go to mocha
#
# Env: VERITY_BIN (skip the build and use this binary), CARGO_TARGET_DIR (default: the
# workspace's target/), W3C_VCDM2_NO_NETNS=1 (do not isolate the network), KEEP_TMP=1.
# Unless told not to, the server and the suite run in a private network namespace
# (`unshare -rn`: loopback only), so nothing a test credential names can reach the internet;
# when no namespace can be made the run stops rather than run without one.
#
# Exit status: 0 when every failure is a known one (known-failures.json, each with its reason)
# and every known one still fails; 1 otherwise (a new failure, or a fixed one to remove).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

if [[ "${W3C_VCDM2_INNER:-}" != 1 ]]; then
  # Outer half: everything that may need the package registry or cargo's cache.
  if [[ -z "${VERITY_BIN:-}" ]]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    echo "== building verity (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
    (cd "$ROOT" && cargo build -p verity)
    export VERITY_BIN="$CARGO_TARGET_DIR/debug/verity"
  fi
  if [[ ! -d "$HERE/node_modules/mocha" ]]; then
    echo "== npm ci" >&2
    (cd "$HERE" && npm ci --no-audit --no-fund)
  fi
  export W3C_VCDM2_INNER=1
  if [[ "${W3C_VCDM2_NO_NETNS:-}" != 1 ]] && unshare -rn true 2>/dev/null; then
    echo "== entering a private network namespace (loopback only)" >&2
    exec unshare -rn bash -c 'ip link set lo up 2>/dev/null || true; exec bash "$0" "$@"' \
      "$HERE/run.sh" "$@"
  fi
  if [[ "${W3C_VCDM2_NO_NETNS:-}" != 1 ]]; then
    echo "== cannot make a private network namespace (unshare -rn); set W3C_VCDM2_NO_NETNS=1 to run without one" >&2
    exit 1
  fi
  exec bash "$HERE/run.sh" "$@"
fi

# Inner half: server + suite.
TMP="$(mktemp -d -t verity-w3c-vcdm2.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ "${KEEP_TMP:-}" == 1 ]]; then
    echo "== kept $TMP (server log: $TMP/verity.log)" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT

PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
BASE="https://localhost:$PORT"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

echo "== starting verity serve on $BASE (data dir $TMP/data)" >&2
(
  cd "$TMP"
  export VERITY__SERVER__BIND="127.0.0.1:$PORT"
  export VERITY__SERVER__PUBLIC_URL="$BASE"
  export VERITY__SERVER__DATA_DIR="$TMP/data"
  export VERITY__SERVER__TLS__CERT_PATH="$TMP/cert.pem"
  export VERITY__SERVER__TLS__KEY_PATH="$TMP/key.pem"
  export VERITY__SERVER__SHUTDOWN_TIMEOUT_SECS=2
  # The suite issues several hundred requests within seconds from one address.
  export VERITY__LIMITS__API_CLIENT_PER_MINUTE=0
  exec "$VERITY_BIN" serve
) >"$TMP/verity.log" 2>&1 &
SERVER_PID=$!

CURL=(curl -sS --cacert "$TMP/cert.pem" --resolve "localhost:$PORT:127.0.0.1")
for _ in $(seq 1 120); do
  if "${CURL[@]}" -fo /dev/null "$BASE/health/ready" 2>/dev/null; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "verity serve exited:" >&2; cat "$TMP/verity.log" >&2; exit 1
  fi
  sleep 0.5
done
"${CURL[@]}" -fo /dev/null "$BASE/health/ready" || { cat "$TMP/verity.log" >&2; exit 1; }

ADMIN_TOKEN="$(tr -d '\n' <"$TMP/data/admin-token")"
DID="did:web:localhost%3A$PORT"
KEY="$("${CURL[@]}" -f -X POST "$BASE/admin/v1/api-keys" \
  -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"w3c-vcdm2-test-suite"}' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).key))')"
[[ -n "$KEY" && "$KEY" != undefined ]] || { echo "could not create an API key" >&2; exit 1; }
echo "== issuer $DID, API key created" >&2

# The implementation manifest read by vc-test-suite-implementations (via APP_ROOT_PATH).
cat >"$TMP/localConfig.cjs" <<EOF
const headers = {Authorization: 'Bearer $KEY'};
const tags = ['vc2.0', 'EnvelopingProof'];
module.exports = {
  settings: {enableInteropTests: false, testAllImplementations: false},
  implementations: [{
    name: 'Verity',
    implementation: 'Verity VC-API (vc+jwt)',
    issuers: [{id: '$DID', endpoint: '$BASE/vc-api/credentials/issue', headers, tags}],
    verifiers: [{id: '$DID', endpoint: '$BASE/vc-api/credentials/verify', headers, tags}],
    vpVerifiers: [{id: '$DID', endpoint: '$BASE/vc-api/presentations/verify', headers, tags}]
  }]
};
EOF

mkdir -p "$HERE/results"
cd "$HERE"
set +e
APP_ROOT_PATH="$TMP" NODE_EXTRA_CA_CERTS="$TMP/cert.pem" \
  node_modules/.bin/mocha 'suite/tests/*.js' --timeout 15000 --preserve-symlinks \
  --reporter ./reporter.cjs --reporter-option output="$HERE/results/results.json" "$@" \
  2>&1 | tee "$HERE/results/mocha.log"
STATUS=${PIPESTATUS[0]}
set -e
cp "$TMP/verity.log" "$HERE/results/verity.log"
echo "== mocha exit status $STATUS (server log: tests/w3c-vcdm2/results/verity.log)" >&2
if [[ $# -gt 0 ]]; then
  exit "$STATUS"  # a partial run (mocha arguments): no comparison with the known failures
fi
node "$HERE/check-known.cjs" "$HERE/results/results.json" "$HERE/known-failures.json"
