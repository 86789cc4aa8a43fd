#!/bin/bash
# jiriaf-fw node setup: picks this node's name and ports by SLURM_NODEID, exports the agent's
# environment and replaces itself with the JRM agent.
set -euo pipefail

case "${SLURM_NODEID:-0}" in
    0)
        NODENAME=jrm-ornl-0a1b2c3d
        KUBELET_PORT=10001
        VKUBELET_POD_IP=172.17.0.1
        JIRIAF_CUSTOM_METRICS_PORTS=2221:20000,1776:20001,8088:20002,2222:20003
        ;;
    *)
        echo "node-setup.sh: unknown SLURM_NODEID '${SLURM_NODEID:-}'; this pilot has nodes 0 to 0" >&2
        exit 2
        ;;
esac

export NODENAME KUBELET_PORT VKUBELET_POD_IP
export KUBECONFIG="$HOME"/run-vk/kubeconfig/jiriaf2302
# Seconds the agent may run, 60 s less than the Slurm walltime; 0 only for a job without a time limit.
export JIRIAF_WALLTIME=1740
export JIRIAF_NODETYPE=ejfat
export JIRIAF_SITE=ornl
export JIRIAF_CUSTOM_METRICS_PORTS

exec apptainer exec /ccsopen/proj/abc123/images/jiriaf-fw.sif /opt/jiriaf-fw/bin/python -m jiriaf_fw.services.agent \
    --nodename "$NODENAME" --kubeconfig "$KUBECONFIG" >> /home/jiriaf/jiriaf-fw/ornl/launches/fw1-launch1/"$NODENAME".log 2>&1
