"""Loaders that turn the exports platform teams already have into validated pandas frames."""
