"""Set-up steps of `./tideway up` that go through the REST API (Python standard library only).

usage:
  local_platform.py agent-token URL ADMIN_PASSWORD      prints a new agent token
  local_platform.py demo-cluster URL ADMIN_PASSWORD     creates tenant "demo" and cluster
                                                        "demo" (1 broker) unless they exist,
                                                        waits until it is Ready, prints its
                                                        bootstrap servers
Exits non-zero with the reason when a step fails."""

import json
import sys
import time
import urllib.error
import urllib.request


def call(url, method="GET", body=None, token=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        sys.exit(f"{method} {url} failed: {e.code} {detail}")


def login(base, password):
    return call(f"{base}/api/v1/login", "POST", {"username": "admin", "password": password})["token"]


def agent_token(base, password):
    token = login(base, password)
    created = call(f"{base}/api/v1/agent-tokens", "POST", {"name": "local-agent"}, token)
    print(created["secret"])


def demo_cluster(base, password):
    token = login(base, password)
    tenants = call(f"{base}/api/v1/tenants", token=token)
    tenant = next((t for t in tenants if t["name"] == "demo"), None)
    if tenant is None:
        tenant = call(f"{base}/api/v1/tenants", "POST", {"name": "demo", "display_name": "Demo team", "auto_approve": True}, token)
    clusters = call(f"{base}/api/v1/clusters?tenant_id={tenant['id']}", token=token)["items"]
    cluster = next((c for c in clusters if c["name"] == "demo"), None)
    if cluster is None:
        spec = {"broker_count": 1, "security": "plaintext", "storage_backend": "local-ssd", "storage_gib": 1,
                "hardware_profile": "virtual", "auto_create_topics": True}
        cluster = call(f"{base}/api/v1/clusters", "POST",
                       {"tenant_id": tenant["id"], "name": "demo", "kind": "dedicated", "spec": spec}, token)
    deadline = time.time() + 120
    while time.time() < deadline:
        cluster = call(f"{base}/api/v1/clusters/{cluster['id']}", token=token)
        if cluster["status"]["phase"] == "Ready":
            print(cluster["bootstrap_servers"])
            return
        time.sleep(1)
    conditions = "; ".join(c["message"] for c in cluster["status"]["conditions"])
    sys.exit(f"the demo cluster is not Ready after 2 minutes: {cluster['status']['phase']}: {conditions}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("agent-token", "demo-cluster"):
        sys.exit(__doc__)
    {"agent-token": agent_token, "demo-cluster": demo_cluster}[sys.argv[1]](sys.argv[2], sys.argv[3])
