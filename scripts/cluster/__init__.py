"""`make cluster`: several Rasa replicas on PostgreSQL + Redis behind HAProxy (see services.py)."""
