#!/usr/bin/env bash
# The MLflow tracking server that cluster jobs log to (the Slurm profile's default
# SRTRACK_MLFLOW_URI is http://<this host's FQDN>:5000). Run it on the submit host, e.g. in tmux:
#
#   scripts/mlflow-server.sh [PORT]          (default 5000)
#
# Environment (optional):
#   SRTRACK_MLFLOW_BACKEND    run store; default sqlite:///results/mlflow-server.db. One writer
#                             process serialises the jobs' writes to the SQLite file; for many
#                             concurrent jobs use PostgreSQL: postgresql://user:pw@db-host/mlflow
#   SRTRACK_MLFLOW_ARTIFACTS  where uploaded artifacts are kept; default results/mlflow-artifacts
#   SRTRACK_MLFLOW_WORKERS    server worker processes; default 4
#   PYTHON                    the interpreter with mlflow; default .venv/bin/python, else python3
# It listens on all interfaces and accepts the Host names of this machine (MLflow refuses
# unknown Host headers to prevent DNS rebinding).
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-5000}
backend=${SRTRACK_MLFLOW_BACKEND:-sqlite:///results/mlflow-server.db}
artifacts=${SRTRACK_MLFLOW_ARTIFACTS:-results/mlflow-artifacts}
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
mkdir -p results "$artifacts"
hosts=localhost,127.0.0.1
for name in "$(hostname -s)" "$(hostname -f 2>/dev/null || hostname)" "$(hostname -I 2>/dev/null | cut -d' ' -f1)"; do
  [ -n "$name" ] && hosts="$hosts,$name"
done
allowed=$(echo "$hosts" | tr ',' '\n' | sort -u | sed "p;s/\$/:$port/" | paste -sd,)
echo "mlflow-server: http://$(hostname -f 2>/dev/null || hostname):$port  (store $backend, artifacts $artifacts)" >&2
exec "$python" -m mlflow server --host 0.0.0.0 --port "$port" --backend-store-uri "$backend" \
  --artifacts-destination "$artifacts" --workers "${SRTRACK_MLFLOW_WORKERS:-4}" --allowed-hosts "$allowed"
