"""Logs, metrics, readiness and error reporting: what ops see of a running Shotcraft."""
