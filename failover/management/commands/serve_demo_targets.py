import contextlib
import json
import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from failover.demo import targets


class Command(BaseCommand):
    help = (
        "Serve the demo's failover targets and identity provider over TLS on 127.0.0.1, "
        "so readiness checks in `make run` talk to real servers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--bundles",
            action="store_true",
            help="print READINESS_CA_BUNDLES (JSON) for the demo CA and exit",
        )
        parser.add_argument(
            "--ready-file",
            help="once listening (and said so), write the ports to this file: bin/run-local "
            "waits for it before printing its banner",
        )

    def handle(self, *args, bundles=False, ready_file=None, **options):
        if bundles:
            self.stdout.write(json.dumps(targets.bundles()))
            return
        try:
            servers = [server.start() for server in targets.servers()]
        except OSError as exc:
            raise CommandError(f"cannot listen for the demo targets: {exc}") from exc
        ports = ", ".join(str(s.port) for s in servers)
        self.stdout.write(f"demo targets listening on 127.0.0.1 ports {ports}")
        self.stdout.flush()
        if ready_file:
            Path(ready_file).write_text(ports)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        for server in servers:
            server.stop()
