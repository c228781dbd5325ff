"""Kubernetes manifests: what the repo declares, where each value is written, and edits to it."""
