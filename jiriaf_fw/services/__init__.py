"""Services built from adapters: pilot orchestration (add, launch, list, delete) and the JRM agent.

Services never print and never parse command lines; the CLI and the agent entry point do that.
"""
