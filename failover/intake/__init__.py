"""Paging-tool intake: PagerDuty, Alertmanager and Opsgenie webhooks become signals."""
