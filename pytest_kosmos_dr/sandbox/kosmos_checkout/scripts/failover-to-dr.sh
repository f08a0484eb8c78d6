#!/usr/bin/env bash
# KOSMOS regional failover (DR plan, Recovery Procedures > Regional Failover):
#   ./scripts/failover-to-dr.sh --region us-west-2 --validate
#
# 1. promote the DR database (the read replica in the DR region) to a standalone instance;
# 2. DNS to the DR region: the API name's SECONDARY failover record must point at the DR region's
#    endpoint (UPSERTed if it does not), then wait until Route53's health checks see the primary
#    failing and the DR region healthy, so that Route53 answers the SECONDARY;
# 3. --validate: the DR database is available and writable-standalone, Route53 answers the DR region,
#    and the API answers its health endpoint.
# Every step is idempotent: a second run finds the work done and changes nothing.
#
# Endpoints and names come from the environment (the sandbox's sandbox.env exports them):
#   AWS_ENDPOINT_URL (optional; the AWS API), KOSMOS_DR_DB_INSTANCE (kosmos-prod-replica),
#   KOSMOS_HOSTED_ZONE (kosmos.internal.), KOSMOS_API_RECORD (api.<zone>), KOSMOS_API_URL (validation),
#   KOSMOS_DR_BACKUP_RETENTION_DAYS (30), KOSMOS_FAILOVER_TIMEOUT_S (300)
# Exit 0 when the DR region serves; otherwise 1 with one line saying what is wrong (2: bad arguments).
set -uo pipefail

REGION="${KOSMOS_DR_REGION:-us-west-2}"
VALIDATE=0
DB="${KOSMOS_DR_DB_INSTANCE:-kosmos-prod-replica}"
ZONE="${KOSMOS_HOSTED_ZONE:-kosmos.internal.}"
RETENTION="${KOSMOS_DR_BACKUP_RETENTION_DAYS:-30}"
TIMEOUT="${KOSMOS_FAILOVER_TIMEOUT_S:-300}"

die() { echo "failover-to-dr: $*" >&2; exit 1; }
usage() { echo "usage: $0 [--region DR_REGION] [--validate]" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --region) [ $# -ge 2 ] || usage; REGION="$2"; shift 2 ;;
    --region=*) REGION="${1#--region=}"; shift ;;
    --validate) VALIDATE=1; shift ;;
    -h|--help) usage ;;
    *) echo "failover-to-dr: unknown argument $1" >&2; usage ;;
  esac
done
case "$ZONE" in *.) ;; *) ZONE="$ZONE." ;; esac
API="${KOSMOS_API_RECORD:-api.$ZONE}"
case "$API" in *.) ;; *) API="$API." ;; esac
DR_ENDPOINT="api.$REGION.$ZONE"

command -v aws >/dev/null 2>&1 || die "the aws CLI is not installed"
ENDPOINT_ARGS=()
[ -n "${AWS_ENDPOINT_URL:-}" ] && ENDPOINT_ARGS=(--endpoint-url "$AWS_ENDPOINT_URL")
ERR="$(mktemp)"
trap 'rm -f "$ERR"' EXIT

# awsq VAR SERVICE ARGS...: the CLI's text output into VAR; on failure, die with its last error line
# (called in the script's own shell, never in $(...), so that die ends the script)
awsq() {
  local __into="$1" __out
  shift
  if ! __out="$(aws "${ENDPOINT_ARGS[@]}" --output text "$@" 2>"$ERR")"; then
    die "aws $1 $2 failed: $(grep -v '^\s*$' "$ERR" | tail -n 1)"
  fi
  printf -v "$__into" '%s' "$__out"
}
log() { echo "failover-to-dr: $*"; }

# -- 1. promote the DR database ------------------------------------------------------------------
describe_db() {  # -> status, source
  local row
  awsq row rds describe-db-instances --region "$REGION" --db-instance-identifier "$DB" \
    --query 'DBInstances[0].[DBInstanceStatus, ReadReplicaSourceDBInstanceIdentifier || `none`]'
  read -r status source <<<"$row"
}
describe_db
if [ "$source" != "none" ]; then
  log "promoting $DB in $REGION (replica of $source)"
  awsq ignored rds promote-read-replica --region "$REGION" --db-instance-identifier "$DB" \
    --backup-retention-period "$RETENTION"
else
  log "$DB in $REGION is already standalone (status $status)"
fi
deadline=$((SECONDS + TIMEOUT))
while :; do
  describe_db
  [ "$status" = "available" ] && [ "$source" = "none" ] && break
  [ $SECONDS -ge $deadline ] && die "$DB in $REGION is '$status'$([ "$source" != none ] && echo ", still a replica of $source") after ${TIMEOUT} s"
  sleep 2
done

# -- 2. DNS to the DR region (Route53 failover records) ------------------------------------------
awsq zone_id route53 list-hosted-zones-by-name --dns-name "$ZONE" \
  --query "HostedZones[?Name=='$ZONE' && Config.PrivateZone==\`false\`] | [0].Id"
[ -n "$zone_id" ] && [ "$zone_id" != "None" ] || die "no public hosted zone $ZONE in Route53"
zone_id="${zone_id##*/}"
record() {  # ROLE -> rec: "set-identifier target ttl health-check-id"
  awsq rec route53 list-resource-record-sets --hosted-zone-id "$zone_id" --start-record-name "$API" \
    --query "ResourceRecordSets[?Name=='$API' && Failover=='$1'] | [0].[SetIdentifier, ResourceRecords[0].Value, TTL, HealthCheckId || \`none\`]"
}
record PRIMARY; read -r p_id p_target p_ttl p_check <<<"$rec"
record SECONDARY; read -r s_id s_target s_ttl s_check <<<"$rec"
[ -n "$p_id" ] && [ "$p_id" != "None" ] || die "$API has no PRIMARY failover record in zone $zone_id"
if [ -z "$s_id" ] || [ "$s_id" = "None" ] || [ "${s_target%.}." != "$DR_ENDPOINT" ]; then
  [ -n "$s_id" ] && [ "$s_id" != "None" ] || s_id="secondary-$REGION"
  [ "$s_ttl" = "None" ] || [ -z "$s_ttl" ] && s_ttl=60
  log "pointing the SECONDARY record of $API at $DR_ENDPOINT (was: ${s_target:-none})"
  check_json=""
  [ "$s_check" != "none" ] && [ -n "$s_check" ] && check_json=", \"HealthCheckId\": \"$s_check\""
  change="{\"Changes\": [{\"Action\": \"UPSERT\", \"ResourceRecordSet\": {\"Name\": \"$API\", \"Type\": \"CNAME\",
    \"TTL\": $s_ttl, \"SetIdentifier\": \"$s_id\", \"Failover\": \"SECONDARY\",
    \"ResourceRecords\": [{\"Value\": \"$DR_ENDPOINT\"}]$check_json}}]}"
  awsq ignored route53 change-resource-record-sets --hosted-zone-id "$zone_id" --change-batch "$change"
else
  log "the SECONDARY record of $API points at $DR_ENDPOINT"
fi
healthy() {  # VAR HEALTH-CHECK-ID -> VAR=yes when more than 18 % of Route53's checkers report success
  local statuses ok=0 all=0 line
  [ "$2" = "none" ] && { printf -v "$1" yes; return; }
  awsq statuses route53 get-health-check-status --health-check-id "$2" \
    --query 'HealthCheckObservations[].StatusReport.Status'
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    all=$((all + 1)); case "$line" in Success*) ok=$((ok + 1)) ;; esac
  done <<<"$(printf '%s' "$statuses" | tr '\t' '\n')"
  if [ $all -gt 0 ] && [ $((ok * 100)) -gt $((all * 18)) ]; then printf -v "$1" yes; else printf -v "$1" no; fi
}
log "waiting for Route53 to answer $API with the DR region (primary's check $p_check, DR's $s_check)"
while :; do
  healthy primary_ok "$p_check"; healthy dr_ok "$s_check"
  [ "$primary_ok" = "no" ] && [ "$dr_ok" = "yes" ] && break
  if [ $SECONDS -ge $deadline ]; then
    [ "$primary_ok" = "yes" ] && die "Route53 still sees the primary ($p_target) healthy after ${TIMEOUT} s: it keeps answering $API with the primary"
    die "Route53 sees the DR region's endpoint $DR_ENDPOINT unhealthy after ${TIMEOUT} s: it answers $API with the primary"
  fi
  sleep 2
done
log "Route53 answers $API with the SECONDARY record ($DR_ENDPOINT)"

# -- 3. validate -----------------------------------------------------------------------------------
if [ "$VALIDATE" = 1 ]; then
  describe_db
  [ "$status" = "available" ] && [ "$source" = "none" ] || die "validation: $DB is '$status', replica of $source"
  if [ -n "${KOSMOS_API_URL:-}" ]; then
    command -v curl >/dev/null 2>&1 || die "validation: curl is not installed"
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${KOSMOS_API_URL%/}/health")" || code="000"
    [ "$code" = "200" ] || die "validation: ${KOSMOS_API_URL%/}/health answered HTTP $code"
    log "validated: $DB available and standalone, DNS on $DR_ENDPOINT, API health HTTP 200"
  else
    log "validated: $DB available and standalone, DNS on $DR_ENDPOINT (KOSMOS_API_URL not set: API not checked)"
  fi
fi
log "failover to $REGION complete"
