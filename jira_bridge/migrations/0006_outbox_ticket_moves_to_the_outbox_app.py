"""OutboxTicket moves to the outbox receiver's app (receivers.outbox). Its table stays where it is
(jira_bridge_outboxticket): only Django's idea of which app holds the model changes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jira_bridge", "0005_next_attempt"),
        ("outbox", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="OutboxTicket")]),
    ]
