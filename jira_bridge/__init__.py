"""The Jira bridge: turns ticket requests into Jira issues (or outbox tickets when no Jira is
configured), records the resulting key against the events, and retries transient failures."""
