"""The bot's command groups (discord.py cogs)."""
