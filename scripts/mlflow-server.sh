#!/usr/bin/env bash
# The MLflow tracking server that cluster jobs log to. Run it on the submit host, e.g. in tmux:
#
#   scripts/mlflow-server.sh [PORT]          (default 5000)
#
# By default it listens on 127.0.0.1 only, without accounts: enough for jobs on this machine. For
# jobs on other nodes, open it with accounts (MLflow's basic-auth app):
#
#   export MLFLOW_AUTH_ADMIN_USERNAME=srtrack MLFLOW_AUTH_ADMIN_PASSWORD='<a long secret>'
#   SRTRACK_MLFLOW_HOST=0.0.0.0 SRTRACK_MLFLOW_AUTH=basic scripts/mlflow-server.sh
#
# and give the jobs the same account as MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (the
# Slurm profile exports the environment). Plain HTTP: on an untrusted network put it behind an
# HTTPS reverse proxy.
#
# Environment (optional):
#   SRTRACK_MLFLOW_HOST       interface to listen on; default 127.0.0.1. Another one without
#                             SRTRACK_MLFLOW_AUTH=basic is refused unless SRTRACK_MLFLOW_INSECURE=1
#   SRTRACK_MLFLOW_AUTH       none (default) or basic: every request needs an account; the admin
#                             account comes from MLFLOW_AUTH_ADMIN_USERNAME / _PASSWORD (required);
#                             users without a grant see nothing (default permission NO_PERMISSIONS)
#   SRTRACK_MLFLOW_CORS       browser origins allowed to call the API; default this server's own
#                             http://<name>:<port> origins (MLflow's default allows any localhost port)
#   SRTRACK_MLFLOW_BACKEND    run store; default sqlite:///results/mlflow-server.db. One writer
#                             process serialises the jobs' writes to the SQLite file; for many
#                             concurrent jobs use PostgreSQL: postgresql://user:pw@db-host/mlflow
#   SRTRACK_MLFLOW_ARTIFACTS  where uploaded artifacts are kept; default results/mlflow-artifacts
#   SRTRACK_MLFLOW_WORKERS    server worker processes; default 4
#   PYTHON                    the interpreter with mlflow; default .venv/bin/python, else python3
# It accepts the Host names of this machine only (MLflow refuses others, against DNS rebinding).
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-5000}
listen=${SRTRACK_MLFLOW_HOST:-127.0.0.1}
auth=${SRTRACK_MLFLOW_AUTH:-none}
backend=${SRTRACK_MLFLOW_BACKEND:-sqlite:///results/mlflow-server.db}
artifacts=${SRTRACK_MLFLOW_ARTIFACTS:-results/mlflow-artifacts}
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export MLFLOW_DISABLE_TELEMETRY=true
# MLflow's job runner (six huey consumer processes, for GenAI scorers and trace roll-ups) does nothing
# for srtrack's runs; it stays off unless asked for.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
case "$auth" in
  none|basic) ;;
  *) echo "mlflow-server: SRTRACK_MLFLOW_AUTH=$auth (expected none or basic)" >&2; exit 2 ;;
esac
case "$listen" in
  127.*|localhost|::1) ;;
  *) if [ "$auth" != basic ] && [ "${SRTRACK_MLFLOW_INSECURE:-0}" != 1 ]; then
       echo "mlflow-server: refusing to listen on $listen without accounts: anyone who reaches this host could" \
            "read, delete and upload runs. Set SRTRACK_MLFLOW_AUTH=basic (and MLFLOW_AUTH_ADMIN_USERNAME /" \
            "MLFLOW_AUTH_ADMIN_PASSWORD), or SRTRACK_MLFLOW_INSECURE=1 on a trusted network" >&2
       exit 2
     fi ;;
esac
mkdir -p results
# The server's files are its own (mode 0600 / 0700): the run store holds every run and the accounts'
# store password hashes, which no other user of the submit host may read.
umask 077
mkdir -p "$artifacts"
chmod 700 "$artifacts"
for uri in "$backend" "${SRTRACK_MLFLOW_AUTH_DB:-sqlite:///results/mlflow-auth.db}"; do
  if [[ $uri == sqlite:///* ]] && [ -e "${uri#sqlite:///}" ]; then chmod 600 "${uri#sqlite:///}"; fi
done
extra=()
if [ "$auth" = basic ]; then
  if [ -z "${MLFLOW_AUTH_ADMIN_USERNAME:-}" ] || [ -z "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ]; then
    echo "mlflow-server: SRTRACK_MLFLOW_AUTH=basic needs MLFLOW_AUTH_ADMIN_USERNAME and MLFLOW_AUTH_ADMIN_PASSWORD" >&2
    exit 2
  fi
  ini=${SRTRACK_MLFLOW_AUTH_INI:-results/mlflow-auth.ini}
  printf '[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = %s\nadmin_username = %s\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n' \
    "${SRTRACK_MLFLOW_AUTH_DB:-sqlite:///results/mlflow-auth.db}" "$MLFLOW_AUTH_ADMIN_USERNAME" > "$ini"
  # the CSRF key of the UI's forms: kept beside the accounts' settings so that restarts keep sessions
  key_file=${ini%.ini}.secret
  [ -s "$key_file" ] || "$python" -c 'import secrets; print(secrets.token_hex(32))' > "$key_file"
  export MLFLOW_FLASK_SERVER_SECRET_KEY=${MLFLOW_FLASK_SERVER_SECRET_KEY:-$(cat "$key_file")}
  export MLFLOW_AUTH_CONFIG_PATH=$(cd "$(dirname "$ini")" && pwd)/$(basename "$ini")
  extra=(--app-name basic-auth)
fi
hosts=localhost,127.0.0.1
for name in "$(hostname -s)" "$(hostname -f 2>/dev/null || hostname)" "$(hostname -I 2>/dev/null | cut -d' ' -f1)"; do
  [ -n "$name" ] && hosts="$hosts,$name"
done
allowed=$(echo "$hosts" | tr ',' '\n' | sort -u | sed "p;s/\$/:$port/" | paste -sd,)
origins=${SRTRACK_MLFLOW_CORS:-$(echo "$hosts" | tr ',' '\n' | sort -u | sed "s|^|http://|;s|\$|:$port|" | paste -sd,)}
echo "mlflow-server: http://$listen:$port  (store $backend, artifacts $artifacts, accounts: $auth)" >&2
exec "$python" -m mlflow server --host "$listen" --port "$port" --backend-store-uri "$backend" \
  --artifacts-destination "$artifacts" --workers "${SRTRACK_MLFLOW_WORKERS:-4}" --allowed-hosts "$allowed" \
  --cors-allowed-origins "$origins" "${extra[@]}"
