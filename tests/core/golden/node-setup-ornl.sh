#!/bin/bash
# jiriaf-fw node setup: picks this node's name and ports by SLURM_NODEID, exports the agent's
# environment, runs the JRM agent, and stops any pod process the agent left behind.
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

log_file=/home/jiriaf/jiriaf-fw/ornl/launches/fw1-launch1/"$NODENAME".log

# The agent runs as a child, not with exec: when it exits, even after SIGKILL or a crash, the cleanup
# below stops the pod processes it left behind, which a Slurm without cgroups would no longer see.
# Slurm signals the whole step, so the agent gets TERM directly; the traps forward it too.
apptainer exec /ccsopen/proj/abc123/images/jiriaf-fw.sif /opt/jiriaf-fw/bin/python -m jiriaf_fw.services.agent --nodename "$NODENAME" --kubeconfig "$KUBECONFIG" >>"$log_file" 2>&1 &
agent_pid=$!
trap 'kill -s TERM "$agent_pid" 2>/dev/null || true' TERM INT
trap 'kill -s USR1 "$agent_pid" 2>/dev/null || true' USR1
status=0
while kill -0 "$agent_pid" 2>/dev/null; do
    wait "$agent_pid" || status=$?
done
apptainer exec /ccsopen/proj/abc123/images/jiriaf-fw.sif /opt/jiriaf-fw/bin/python -m jiriaf_fw.services.agent.cleanup --nodename "$NODENAME" >>"$log_file" 2>&1 || true
exit "$status"
