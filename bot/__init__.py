"""The ketamine-therapy decision aid: the project's own Python package.

- bot.safety: rule-based crisis and personal-advice detectors (spaCy).
- bot.nlu_components / bot.policies: how Rasa uses those detectors.
- bot.channels: the hardened REST channel.
- bot.content: the approved answers (read from the domain) for the staff console.
"""
