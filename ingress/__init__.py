"""Ingress: serves every source URL, answers at once, and keeps each request byte for byte."""
