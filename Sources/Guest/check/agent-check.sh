#!/bin/bash
# Host-side check of the agent's error handling and of the programs' JSON, without booting:
# fake test programs (shell scripts) misbehave in every way the agent must survive.
#   check/agent-check.sh BUILD_DIR        (run by `make check`)
set -euo pipefail
B=${1:?usage: $0 BUILD_DIR}
T=$(mktemp -d "${TMPDIR:-/tmp}/gml-agent-check.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/tests"

# one fake program listing several cases; --run behaves per case
cat > "$T/tests/fake" <<'P'
#!/bin/sh
if [ "$1" = --list ]; then
  for c in ok sigsegv two-results wrong-id no-result slow env quote bad-status orphan; do
    echo "{\"id\":\"fake/$c\",\"suite\":\"fake\",\"description\":\"d\",\"needs\":[]}"
  done
  exit 0
fi
case "$2" in
  fake/ok) echo "GMLAB-RESULT {\"id\":\"fake/ok\",\"status\":\"pass\",\"message\":\"m\",\"values\":{},\"duration_ms\":0}" ;;
  fake/sigsegv) kill -SEGV $$ ;;
  fake/two-results) echo "GMLAB-RESULT {\"id\":\"fake/two-results\",\"status\":\"pass\"}"; echo "GMLAB-RESULT {\"id\":\"fake/two-results\",\"status\":\"pass\"}" ;;
  fake/wrong-id) echo "GMLAB-RESULT {\"id\":\"fake/other\",\"status\":\"pass\"}" ;;
  fake/no-result) echo "some noise"; exit 3 ;;
  fake/slow) sleep 30 & sleep 30 ;;
  fake/env) echo "GMLAB-RESULT {\"id\":\"fake/env\",\"status\":\"pass\",\"message\":\"$GMLAB_BACKEND\"}" ;;
  fake/orphan) sleep 30 & echo "GMLAB-RESULT {\"id\":\"fake/orphan\",\"status\":\"pass\",\"message\":\"left a child\"}" ;;
  fake/bad-status) echo "GMLAB-RESULT {\"id\":\"fake/bad-status\",\"status\":\"passed\"}" ;;
  fake/quote) echo "GMLAB-RESULT {\"id\":\"fake/quote\",\"status\":\"pass\",\"message\":\"a\\\\\"b\"}" ;;
esac
P
chmod +x "$T/tests/fake"
# a program whose --list fails
printf '#!/bin/sh\nexit 1\n' > "$T/tests/broken"; chmod +x "$T/tests/broken"
cp "$B"/tests/* "$T/tests/"

cat > "$T/plan" <<'P'
# comment
backend vmx

fake/ok 5
fake/sigsegv 5
fake/two-results 5
fake/wrong-id 5
fake/no-result 5
fake/slow 1
fake/env 5
fake/quote 5
fake/bad-status 5
fake/orphan 20
no/such-case 5
fake/ok notanumber
smoke/kernel-version 10
selftest/fail 10
P
t0=$(date +%s)
"$B/agent" "$T/out" --plan "$T/plan" --tests "$T/tests" 2>"$T/console" || { echo "agent failed:"; cat "$T/console"; exit 1; }

t1=$(date +%s)
fails=0
expect() { # pattern description
    if grep -qE -- "$1" "$T/out"; then echo "ok:   $2"; else echo "FAIL: $2 (no line matching $1)"; fails=$((fails + 1)); fi
}
expect '^GMLAB-AGENT \{"event":"start",.*"backend":"vmx","cases":14,' "start line first with backend and case count"
[ "$(head -n1 "$T/out" | cut -c1-29)" = 'GMLAB-AGENT {"event":"start",' ] && echo "ok:   start is the first line" || { echo "FAIL: start is not the first line"; fails=$((fails + 1)); }
expect '"event":"error","message":"[^"]*broken --list failed' "a failing --list is an error event"
expect '^GMLAB-RESULT \{"id":"fake/ok","status":"pass"' "a good result is forwarded"
expect '"id":"fake/sigsegv","status":"error","message":"[^"]*killed by signal 11 \(SIGSEGV' "signal named"
expect '"id":"fake/two-results","status":"error","message":"[^"]*printed 2 RESULT lines' "two RESULT lines"
expect '"id":"fake/wrong-id","status":"error","message":"[^"]*RESULT for another id' "mismatched id"
expect '"id":"fake/no-result","status":"error","message":"[^"]*exited with status 3 without a GMLAB-RESULT' "no RESULT line"
expect '"id":"fake/slow","status":"error","message":"timed out after 1s in guest"' "timeout"
expect '"id":"fake/env","status":"pass","message":"vmx"' "GMLAB_BACKEND passed to the child"
expect '"id":"fake/bad-status","status":"error","message":"[^"]*without a status of' "invalid status"
expect '"id":"fake/orphan","status":"pass","message":"left a child"' "a case that leaves a child holding stdout still reports"
if [ $((t1 - t0)) -lt 10 ]; then echo "ok:   the agent took $((t1 - t0))s (a leftover child does not hold it up)"; else echo "FAIL: the agent took $((t1 - t0))s: waited for a leftover child?"; fails=$((fails + 1)); fi
expect '"id":"no/such-case","status":"error","message":"unknown case id' "unknown id"
expect '"id":"fake/ok","status":"error","message":"plan line 15: expected' "bad plan line"
expect '"id":"smoke/kernel-version","status":"pass"' "a real program runs"
expect '"id":"selftest/fail","status":"fail","message":"1 of 2 checks failed: a check that fails on purpose' "failure message names the check"
[ "$(tail -n1 "$T/out")" = 'GMLAB-AGENT {"event":"done"}' ] && echo "ok:   done is the last line" || { echo "FAIL: done is not the last line"; fails=$((fails + 1)); }
[ "$(grep -c '^GMLAB-BEGIN ' "$T/out")" = "$(grep -c '^GMLAB-RESULT ' "$T/out")" ] && echo "ok:   one RESULT per BEGIN" || { echo "FAIL: BEGIN/RESULT counts differ"; fails=$((fails + 1)); }
# the slow case's background sleep must be gone (process group killed)
if pgrep -f "sleep 30" >/dev/null 2>&1 && pgrep -f "sleep 30" | xargs -r ps -o args= -p | grep -q "^sleep 30"; then
    echo "FAIL: a process of the timed-out case survived"; fails=$((fails + 1))
else
    echo "ok:   the timed-out case's process group is gone"
fi
# every JSON payload parses (python3 is on the build host; skip the check without it)
if command -v python3 >/dev/null; then
    if python3 - "$T/out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    kind, _, rest = line.rstrip("\n").partition(" ")
    if kind in ("GMLAB-AGENT", "GMLAB-RESULT"):
        json.loads(rest)
PY
    then echo "ok:   every JSON payload parses"; else echo "FAIL: a JSON payload does not parse"; fails=$((fails + 1)); fi
    for p in "$B"/tests/*; do
        "$p" --list | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' ||
            { echo "FAIL: $p --list is not JSON lines"; fails=$((fails + 1)); }
    done
fi
if [ $fails -ne 0 ]; then
    echo "--- agent output:"; cat "$T/out"; echo "--- $fails check(s) failed"; exit 1
fi
echo "all agent checks passed"
