"""Helm charts rendered by the real Helm engine, in a child process with limits."""
