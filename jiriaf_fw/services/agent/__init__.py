"""The JRM agent: a userspace virtual kubelet that runs pods as bash process groups."""
