"""The long-running service: webhooks, schedules and a worker around the same run as the CLI."""
