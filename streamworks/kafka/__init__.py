"""Kafka clients with the platform's safe defaults, login checks and topic administration.

Modules: ``clients`` (producers, consumers, admin), ``security`` (login checks, refusals
explained), ``sending`` (batched, acknowledged sends).
"""

__all__: list[str] = []
