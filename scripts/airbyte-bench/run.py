#!/usr/bin/env python3
"""The airbyte-cdk column of the 10,000-contact bench (host/benches/compare.rs, issue 12).

    run.py <vendor_base_url> <token>

Reads the `contacts` stream of manifest.yaml (beside this file) in-process with the CDK's
declarative source, counts the RECORD messages and prints exactly one line on stdout:

    records=<n> seconds=<float>

`seconds` is the read alone (not the import, the manifest's parsing or the catalog). Anything
else goes to stderr; on a failure the message is on stderr and the exit code is not 0.
AIRBYTE_BENCH_SAMPLE=1 also prints the first record on stderr (to check the mapping).
Run by scripts/airbyte-bench.sh, in the virtualenv it makes.
"""

import json
import logging
import os
import sys
import time
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent / "manifest.yaml"


def fail(message: str) -> "NoReturn":  # noqa: F821
    print(f"airbyte-bench: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    if len(sys.argv) != 3:
        fail("usage: run.py <vendor_base_url> <token>")
    base_url, token = sys.argv[1].rstrip("/"), sys.argv[2]
    sample = os.environ.get("AIRBYTE_BENCH_SAMPLE") == "1"

    # Importing airbyte_cdk points the `airbyte` logger at stdout (as a connector's messages
    # go there), and the source prints control messages: keep the real stdout for the one
    # line and send file descriptor 1 to stderr for everything else.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        from airbyte_cdk.models import (
            ConfiguredAirbyteCatalog,
            ConfiguredAirbyteStream,
            DestinationSyncMode,
            Level,
            SyncMode,
            Type,
        )
        from airbyte_cdk.sources.declarative.yaml_declarative_source import (
            YamlDeclarativeSource,
        )
    except ImportError as e:
        fail(f"airbyte-cdk is not importable: {e}")
    # Its progress lines (stream started, records read, ...): warnings and errors only.
    logging.getLogger("airbyte").setLevel(logging.WARNING)

    logger = logging.getLogger("airbyte-bench")
    config = {"base_url": base_url, "token": token}
    try:
        discovered = YamlDeclarativeSource(path_to_yaml=str(MANIFEST), config=config).discover(
            logger, config
        )
        streams = [s for s in discovered.streams if s.name == "contacts"]
        if not streams:
            fail(f"{MANIFEST} has no `contacts` stream")
        catalog = ConfiguredAirbyteCatalog(
            streams=[
                ConfiguredAirbyteStream(
                    stream=streams[0],
                    sync_mode=SyncMode.full_refresh,
                    destination_sync_mode=DestinationSyncMode.overwrite,
                )
            ]
        )
        source = YamlDeclarativeSource(path_to_yaml=str(MANIFEST), config=config, catalog=catalog)
    except SystemExit:
        raise
    except Exception as e:  # the manifest did not load
        fail(f"could not build the declarative source from {MANIFEST}: {e!r}")

    records = 0
    errors = []
    try:
        started = time.perf_counter()
        for message in source.read(logger, config, catalog, state=[]):
            if message.type == Type.RECORD:
                records += 1
                if sample and records == 1:
                    print(
                        "first record: " + json.dumps(message.record.data, default=str),
                        file=sys.stderr,
                    )
            elif message.type == Type.TRACE and message.trace.error is not None:
                errors.append(message.trace.error.message)
            elif message.type == Type.LOG and message.log.level in (Level.ERROR, Level.FATAL):
                errors.append(message.log.message)
        seconds = time.perf_counter() - started
    except Exception as e:  # the CDK raises once a stream has failed
        detail = f"; {'; '.join(errors)}" if errors else ""
        fail(f"the read failed after {records} records: {e!r}{detail}")
    if errors:
        fail(f"the read reported errors after {records} records: {'; '.join(errors)}")
    if records == 0:
        fail(f"the read returned no records from {base_url}")
    sys.stdout.flush()
    os.write(result_fd, f"records={records} seconds={seconds:.6f}\n".encode())


if __name__ == "__main__":
    main()
