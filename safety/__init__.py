"""Safety: prompt filters, image classifiers, the channel-aware policy, the moderation record.

Knows text and images, not Discord.
"""
