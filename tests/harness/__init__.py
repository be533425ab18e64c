"""What the tests' conftests and the benchmarks (bench/) share: real processes and servers
started on loopback for a test or a run. Fixtures stay in the conftests; these are the parts
they are built from.

- ports.py       a free loopback port
- broker.py      a Celery broker of the caller's own (redis-server, else kombu's filesystem)
- worker.py      a real `celery worker` process on that broker, sharing the test database
- gunicorn.py    the web app as production runs it, in a process of its own
- motoserver.py  moto's server (AWS APIs over HTTP); route53.py: record helpers for its zones
- faultproxy.py  an HTTP proxy in front of moto's Route 53 that injects Route 53's faults
- browser.py     Debian's Chromium driven by Playwright, and a person at a browser
- races.py       calls raced in threads, each on its own database connection
"""
