"""One module per page: dashboard, services, declare, requests, sign-in."""
