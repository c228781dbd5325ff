"""Utilisation formats: each reads one kind of export into the tidy usage frame."""
