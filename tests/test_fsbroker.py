"""The embedded broker (failover/fsbroker.py): a consumer never reads a message half-written.

A reader thread takes messages as fast as it can while 500 large ones are put: kombu's own
filesystem transport let it read 4 empty files out of 500 (JSONDecodeError, which kills a
worker's consumer); this one must let it read none, and every message put is read whole."""

from __future__ import annotations

import json
import threading
from queue import Empty

from kombu import Connection

PAYLOAD = {"body": "x" * 200_000}


def channel(folder) -> object:
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    return Connection(
        "filesystem://", transport_options={**options, "store_processed": False}
    ).channel()


def test_the_filesystem_url_means_this_transport(tmp_path):
    assert type(channel(tmp_path)).__module__ == "failover.fsbroker"


def test_a_message_is_never_read_half_written(tmp_path):
    put, take = channel(tmp_path), channel(tmp_path)
    errors, read = [], []
    done = threading.Event()

    def consume():
        while not done.is_set() or any(tmp_path.glob("*.q.msg")):
            try:
                read.append(take._get("q"))
            except Empty:
                continue
            except json.JSONDecodeError as exc:
                errors.append(exc)

    reader = threading.Thread(target=consume)
    reader.start()
    for _ in range(500):
        put._put("q", PAYLOAD)
    done.set()
    reader.join(60)
    assert errors == []
    assert len(read) == 500 and all(message == PAYLOAD for message in read)
