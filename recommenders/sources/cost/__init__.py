"""Cost formats: each reads one kind of export into FOCUS columns."""
