#!/bin/bash
# jiriaf-fw node setup: picks this node's name and ports by SLURM_NODEID, exports the agent's
# environment and replaces itself with the JRM agent.
set -euo pipefail

case "${SLURM_NODEID:-0}" in
    0)
        NODENAME=vk-local-0a1b2c3d
        KUBELET_PORT=10001
        VKUBELET_POD_IP=127.0.0.1
        ;;
    *)
        echo "node-setup.sh: unknown SLURM_NODEID '${SLURM_NODEID:-}'; this pilot has nodes 0 to 0" >&2
        exit 2
        ;;
esac

export NODENAME KUBELET_PORT VKUBELET_POD_IP
export KUBECONFIG=/home/jiriaf/.kube/config
# Seconds the agent may run, 60 s less than the Slurm walltime; 0 only for a job without a time limit.
export JIRIAF_WALLTIME=540
export JIRIAF_NODETYPE=cpu
export JIRIAF_SITE=local

exec /opt/jiriaf-fw/venv/bin/python -m jiriaf_fw.services.agent \
    --nodename "$NODENAME" --kubeconfig "$KUBECONFIG" >> /home/jiriaf/jiriaf-fw/local/launches/fw1-launch1/"$NODENAME".log 2>&1
