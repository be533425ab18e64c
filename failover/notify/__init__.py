"""Outbound notifications: webhooks (Slack-compatible or signed JSON) on request events."""
