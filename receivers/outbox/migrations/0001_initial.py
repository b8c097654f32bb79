"""The outbox's tickets, in the table jira_bridge made for them (jira_bridge 0001): the model
moves here, the table does not."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("jira_bridge", "0005_next_attempt")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboxTicket",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("fields", models.JSONField()),
                        ("comments", models.JSONField(blank=True, default=list)),
                        ("properties", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={"db_table": "jira_bridge_outboxticket", "ordering": ["-created_at", "-id"]},
                ),
            ]
        ),
    ]
