"""Fixtures for agent tests; helpers live in `agent_harness`."""
