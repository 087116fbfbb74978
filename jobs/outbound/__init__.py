"""Outbound webhooks: domain events written to an outbox in the changing transaction, delivered to
creators' endpoints from a queue of their own, signed per Standard Webhooks (DESIGN.md §8).

A Django app of its own (label `outbound`) so its models and migrations stand apart from the
take pipeline's. `kinds.py` is the one list of event kinds; `record.py` is what domain code calls.
"""
