"""Speed benchmark: this bot against Rasa's starter bot, in one run (`make bench`)."""
