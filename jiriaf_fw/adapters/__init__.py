"""Adapters that touch the world: the FireWorks launchpad, Slurm commands, the Kubernetes API, processes, SSH.

Each adapter raises its own subclass of `jiriaf_fw.core.errors.JiriafError`, with the library's exception chained;
no pymongo, paramiko, lightkube or subprocess exception leaves this package raw.
"""
