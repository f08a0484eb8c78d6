#!/usr/bin/env bash
# Entrypoint of the kosmos-dr image: run the DR suites (gate checks and drills) against one target,
# push the results to S3, and exit with pytest's exit code (0 pass, 1 failed/broken, 2 interrupted,
# 4 bad input, 5 nothing collected; see docs/reports.md). An upload problem is reported on stderr
# but never changes the exit code: the job's verdict is the DR verdict.
#
# Environment:
#   DR_TARGET          target name in the targets file (e.g. dr-cluster); required unless:
#   DR_TARGETS         comma-separated targets of an Indexed Job: the pod runs the one at its
#                      JOB_COMPLETION_INDEX (set by Kubernetes), one pod per target
#   DR_CONFIG          targets file (default /etc/kosmos-dr/kosmos-dr.toml, the ConfigMap)
#   DR_DEADLINE        bound on the whole run (default 3h30m: inside the Job's 4 h deadline, so the
#                      drills' cleanup and the upload still run)
#   DR_KUBE_CONTEXT    context name the target uses (default dr-cluster); in a pod a kubeconfig with
#                      that context is written from the service account, for the kubectl the checks run
#   REPORTS_DIR        where results go (default /opt/kosmos-dr/reports, a writable volume)
#   RESULTS_BUCKET     S3 bucket for the results (empty: no upload); RESULTS_PREFIX: key prefix
#   PYTEST_ADDOPTS     extra pytest options (standard pytest variable)
set -uo pipefail

if [ -z "${DR_TARGET:-}" ] && [ -n "${DR_TARGETS:-}" ]; then   # an Indexed Job: one target per pod
  IFS=, read -r -a _targets <<<"$DR_TARGETS"
  _index="${JOB_COMPLETION_INDEX:-}"
  if ! [[ "$_index" =~ ^[0-9]+$ ]] || [ "$_index" -ge "${#_targets[@]}" ]; then
    printf '[run-drills] JOB_COMPLETION_INDEX=%s does not pick one of the %s targets in DR_TARGETS (completions must equal their count)\n' \
      "${_index:-unset}" "${#_targets[@]}" >&2
    exit 4
  fi
  DR_TARGET="$(echo "${_targets[$_index]}" | tr -d '[:space:]')"
fi
: "${DR_TARGET:?set DR_TARGET to the target name (e.g. dr-cluster), or DR_TARGETS in an Indexed Job}"
DR_CONFIG="${DR_CONFIG:-/etc/kosmos-dr/kosmos-dr.toml}"
DR_DEADLINE="${DR_DEADLINE:-3h30m}"
DR_KUBE_CONTEXT="${DR_KUBE_CONTEXT:-dr-cluster}"
REPORTS_DIR="${REPORTS_DIR:-/opt/kosmos-dr/reports}"
RESULTS_BUCKET="${RESULTS_BUCKET:-}"
RESULTS_PREFIX="${RESULTS_PREFIX:-}"
SA_DIR=/var/run/secrets/kubernetes.io/serviceaccount

log() { printf '[run-drills] %s\n' "$*" >&2; }

mkdir -p "$REPORTS_DIR" || { log "cannot create $REPORTS_DIR"; exit 4; }

# kubectl (configuration and agent-state checks) is called with --context; in a pod there is no
# kubeconfig, so write one that uses the pod's service account (token file re-read on each call).
if [ -z "${KUBECONFIG:-}" ] && [ -n "${KUBERNETES_SERVICE_HOST:-}" ] && [ -r "$SA_DIR/token" ]; then
  export KUBECONFIG="${TMPDIR:-/tmp}/kubeconfig"
  host="$KUBERNETES_SERVICE_HOST"
  case "$host" in *:*) host="[$host]" ;; esac   # IPv6 service address
  cat >"$KUBECONFIG" <<KUBECONFIG_EOF
apiVersion: v1
kind: Config
clusters:
- name: in-cluster
  cluster:
    server: https://${host}:${KUBERNETES_SERVICE_PORT:-443}
    certificate-authority: ${SA_DIR}/ca.crt
users:
- name: kosmos-dr
  user:
    tokenFile: ${SA_DIR}/token
contexts:
- name: ${DR_KUBE_CONTEXT}
  context:
    cluster: in-cluster
    user: kosmos-dr
current-context: ${DR_KUBE_CONTEXT}
KUBECONFIG_EOF
  chmod 600 "$KUBECONFIG"
  log "kubeconfig for context ${DR_KUBE_CONTEXT} written from the service account"
fi

args=(
  suites/
  "--dr-target=${DR_TARGET}"
  "--dr-config=${DR_CONFIG}"
  --dr-allow-restore
  "--dr-confirm-target=${DR_TARGET}"
  "--dr-deadline=${DR_DEADLINE}"
  -p no:cacheprovider
  "--junitxml=${REPORTS_DIR}/junit.xml"
  "--alluredir=${REPORTS_DIR}/allure-results"
  "--dr-scorecard=${REPORTS_DIR}/dr-scorecard.json"
  "--dr-ledger=${REPORTS_DIR}/drill-ledger.jsonl"
  "$@"
)
log "pytest ${args[*]}"

# pytest runs in the background so that SIGTERM (activeDeadlineSeconds, node drain, kubectl delete)
# becomes Ctrl-C for pytest: the drills then delete what they created before the pod goes away.
# Job control (set -m) is on while it starts: without it a non-interactive shell starts background
# commands with SIGINT ignored, and the trap's `kill -INT` would do nothing. Its own process group
# also keeps a Ctrl-C of a terminal running this script from reaching pytest twice.
pytest_pid=
terminating=
interrupt_pytest() {
  terminating=1
  log "terminating: interrupting pytest (drill cleanup runs)"
  [ -z "$pytest_pid" ] || kill -INT "$pytest_pid" 2>/dev/null
}
trap interrupt_pytest TERM INT
set -m
python -m pytest "${args[@]}" &
pytest_pid=$!
set +m
[ -z "$terminating" ] || kill -INT "$pytest_pid" 2>/dev/null   # the signal came while it was starting
status=0
while :; do
  wait "$pytest_pid"; status=$?
  kill -0 "$pytest_pid" 2>/dev/null && continue   # wait returned early because of the trap
  wait "$pytest_pid" 2>/dev/null; again=$?      # it ended meanwhile: its own code, unless already reported
  [ "$again" -eq 127 ] || status=$again
  break
done
trap - TERM INT
log "pytest exit code ${status}"

if [ -n "$RESULTS_BUCKET" ]; then
  dest_prefix="${RESULTS_PREFIX}$(date -u +%Y/%m/%d)/"
  [ -z "${DR_TARGETS:-}" ] || dest_prefix="${dest_prefix}${DR_TARGET}/"   # one folder per target: kosmos-dr merge
  log "uploading ${REPORTS_DIR} to s3://${RESULTS_BUCKET}/${dest_prefix}"
  if ! python - "$REPORTS_DIR" "$RESULTS_BUCKET" "$dest_prefix" <<'PY'
import pathlib
import sys

import boto3

root, bucket, prefix = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
s3 = boto3.client("s3")
count = 0
for path in sorted(p for p in root.rglob("*") if p.is_file()):
    s3.upload_file(str(path), bucket, prefix + path.relative_to(root).as_posix())
    count += 1
print(f"[run-drills] uploaded {count} files to s3://{bucket}/{prefix}", file=sys.stderr)
PY
  then
    log "ERROR: upload to s3://${RESULTS_BUCKET}/${dest_prefix} failed (results only in this pod's logs)"
  fi
else
  log "RESULTS_BUCKET not set: results not uploaded"
fi

exit "$status"
