#!/usr/bin/env bash
# Run the main job of jiriaf-fw on this machine, from examples/local.yaml:
# a pilot on the local Slurm, its node Ready in a Kubernetes API server, the paper's example pod
# Succeeded with its output shown, and everything cleaned up.
#
# Needs what `scripts/dev.sh install` installs, and the local Slurm of `scripts/dev.sh slurm-start`
# (`scripts/dev.sh demo` does both). There is no Kubernetes control plane here, so the demo starts the
# package's API-server double; against a real cluster, point jrm.kubeconfig at its kubeconfig instead.
#
# HOME is set to a folder of the demo, so `~/.kube/config`, `~/jiriaf-fw` (the work root) and the
# embedded launchpad of examples/local.yaml land there and nothing of yours is touched.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${JIRIAF_DEV_STATE:-/tmp/jiriaf-dev}
VENV=${JIRIAF_DEV_VENV:-$REPO/.venv}
DEMO=$STATE/demo
CONFIG=$REPO/examples/local.yaml
POD_EXAMPLE=$REPO/examples/direct-stress.yaml

log() { printf '\n== %s\n' "$*"; }
die() { printf 'demo.sh: error: %s\n' "$*" >&2; exit 1; }

[[ -x $VENV/bin/jiriaf-fw ]] || die "$VENV/bin/jiriaf-fw not found; run 'scripts/dev.sh install' first"
[[ -f $STATE/slurm/env.sh ]] || die "no local Slurm; run 'scripts/dev.sh slurm-start' first"
# shellcheck source=/dev/null
source "$STATE/slurm/env.sh"

rm -rf "$DEMO"
mkdir -p "$DEMO/home/.kube"
export HOME=$DEMO/home
export PATH=$VENV/bin:$PATH
unset JIRIAF_FW_LAUNCHPAD JIRIAF_FW_HOME

api_pid=
fw_id=
cleanup() {
  local status=$?
  if [[ -n $fw_id ]]; then
    jiriaf-fw delete_wf "$fw_id" >/dev/null 2>&1 || true
  fi
  if [[ -n $api_pid ]]; then
    kill "$api_pid" 2>/dev/null || true
    wait "$api_pid" 2>/dev/null || true
  fi
  exit "$status"
}
trap cleanup EXIT

seconds_since() { awk -v start="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.1f", now - start }'; }
started=$EPOCHREALTIME
step_started=$started
elapsed() {
  printf '   (%s s)\n' "$(seconds_since "$step_started")"
  step_started=$EPOCHREALTIME
}

log "start the Kubernetes API-server double on 127.0.0.1 (kubeconfig ~/.kube/config)"
jiriaf-apiserver-double --host 127.0.0.1 --port 0 --kubeconfig "$HOME/.kube/config" \
  --ready-file "$DEMO/apiserver.ready" >"$DEMO/apiserver.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do [[ -s $DEMO/apiserver.ready ]] && break; sleep 0.1; done
[[ -s $DEMO/apiserver.ready ]] || die "the API-server double did not start; see $DEMO/apiserver.log"
cat "$DEMO/apiserver.log"
elapsed

log "jiriaf-fw add_wf $CONFIG"
jiriaf-fw add_wf "$CONFIG" --json >"$DEMO/added.json"
jiriaf-fw get_wf
fw_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fw_id"])' "$DEMO/added.json")
node=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][0]["nodename"])' "$DEMO/added.json")
elapsed

log "jiriaf-fw launch"
jiriaf-fw launch
elapsed

log "wait for node $node to be Ready"
for _ in $(seq 1 300); do kubectl get node "$node" >/dev/null 2>&1 && break; sleep 0.3; done
kubectl wait --for=condition=Ready "node/$node" --timeout=120s
kubectl get nodes -o wide
elapsed

log "kubectl apply -f $POD_EXAMPLE"
kubectl apply -f "$POD_EXAMPLE"
kubectl wait --for=jsonpath='{.status.phase}'=Running pod/direct-stress --timeout=60s
kubectl get pods -o wide
elapsed

log "wait for pod direct-stress to succeed (stress --timeout 10 --cpu 1)"
kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod/direct-stress --timeout=120s
kubectl get pods
echo "-- kubectl logs direct-stress:"
kubectl logs direct-stress
echo "-- files on the node: $HOME/default/direct-stress/containers/direct-stress"
find "$HOME/default/direct-stress/containers/direct-stress" -maxdepth 2 | sort
elapsed

log "jiriaf-fw get_wf"
jiriaf-fw get_wf
elapsed

log "jiriaf-fw delete_wf $fw_id"
jiriaf-fw delete_wf "$fw_id"
fw_id=
kubectl get nodes
jiriaf-fw get_wf
elapsed

printf '\ndemo finished in %s s\n' "$(seconds_since "$started")"
