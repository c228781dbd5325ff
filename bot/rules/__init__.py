"""Policy rule kinds that need more than a number to decide: time, history, expressions."""
