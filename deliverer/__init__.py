"""Deliverer: events to HTTP destinations, with a record of every attempt."""
