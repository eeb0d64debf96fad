#!/usr/bin/env bash
# A real one-node Slurm on this machine (Debian slurm-wlm + munge, MariaDB + slurmdbd accounting),
# for the Slurm tests and CI. Needs root.
#
#   scripts/slurm-local.sh up   [DIR]   install what is missing, configure, start, wait for an idle node
#   scripts/slurm-local.sh down [DIR]   stop exactly the daemons `up` started, delete DIR
#   scripts/slurm-local.sh status [DIR]
#
# DIR (default /tmp/srtrack-slurm) holds configs, state, logs and the database; keep it outside the
# repository. Defaults chosen for the test suite: 8 declared CPUs on a 2-core machine (several jobs
# and 2-task DDP at once), 2 fake GPUs, accounting on (snakemake-executor-plugin-slurm and submitit
# poll sacct; without slurmdbd a dead job is never noticed). Every knob of slurm-local-setup.sh can
# be overridden from the environment (SLURM_LOCAL_*); the helpers are slurm-local-setup.sh and
# slurm-local-stop.sh beside this script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
action=${1:-}
dir=${2:-${SRTRACK_SLURM_DIR:-/tmp/srtrack-slurm}}
case "$action" in
  up)
    export SLURM_LOCAL_CPUS=${SLURM_LOCAL_CPUS:-8}
    export SLURM_LOCAL_FAKE_GPUS=${SLURM_LOCAL_FAKE_GPUS:-2}
    export SLURM_LOCAL_ACCOUNTING=${SLURM_LOCAL_ACCOUNTING:-1}
    exec bash "$here/slurm-local-setup.sh" "$dir"
    ;;
  down)
    exec bash "$here/slurm-local-stop.sh" "$dir" --purge
    ;;
  status)
    sinfo -h -o '%n %T %c CPUs %G' && squeue -h
    ;;
  *)
    echo "usage: $0 up|down|status [DIR]" >&2
    exit 2
    ;;
esac
