"""The JRM agent: a userspace virtual kubelet that runs pods as bash process groups.

`main` parses flags and signals, `settings` reads the environment, and `agent` wires one run and its
shutdown ladder. `node` owns the Node and its Lease, and `pods` keeps the pods bound to the node in step
with the runtime (`runtime`, `volumes`, `records`). `kubelet_server` serves the kubelet HTTPS API, and
`walltime` follows the deadline. The agent never imports the CLI, the launchpad or FireWorks, so a compute
node needs only the agent's dependencies.
"""
