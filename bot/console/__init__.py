"""The staff phone console: the bot's approved answers, fast, for clinic staff.

It reads the very same texts the bot sends (bot.content: the domain's and
data/responses' responses; bot.decision_aid: the comparison table and decision
tools) and keeps no copy of any answer. Modules:

- crisis_script: the staff crisis script (bot/content/staff_crisis_script.yml).
- catalog: every answer grouped by topic, the decision-aid sections, dates.
- keyword: a small pure-Python BM25 index (the search's backstop).
- nlu: the trained Rasa model, loaded in-process, as a ranker.
- search: the combined search (crisis first, NLU ranking, keyword backstop).
- plain: plain text for reading aloud (no markup, no emoji).
- export: the printable phone-script document (Markdown and HTML).
- pages / auth / web: the token-protected web console (on Sanic, Rasa's web server).
- cli: `python -m bot scripts ...` and `python -m bot console ...`.
"""
