"""The Discord bot, its CLI and start-up wiring: events in, calls out, results to messages."""
