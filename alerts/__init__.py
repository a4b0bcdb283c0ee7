"""Alarms: their messages on the alerts topic (and, in later work, their delivery to people)."""
