"""The outbox receiver (no JIRA_URL): tickets become rows of the hub's own database (``models``),
exactly as Jira would get them; nothing leaves the machine. A Django app (label ``outbox``)."""
