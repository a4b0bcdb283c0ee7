"""Alarms: their messages on the alerts topic, and their delivery to people — the dispatcher
(``dispatcher_app``) routes each alarm to its receivers (``receivers/``: webhook, Slack, PagerDuty, SMTP,
Alertmanager), once, retried, under silences; ``prometheus/`` holds the stack's alerting rules."""
