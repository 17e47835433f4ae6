"""compose.yaml runs what the operations guide promises: one image for migrate, api and worker,
restarts and healthchecks for what runs long, no credentials written in, writable volumes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]


def test_migrate_api_and_worker_run_one_image_built_once():
    images = {SERVICES[name]["image"] for name in ("migrate", "api", "worker")}
    assert len(images) == 1
    assert [name for name, service in SERVICES.items() if "build" in service] == ["migrate"]


def test_what_runs_long_restarts_and_reports_its_health():
    for name in ("postgres", "redis", "api", "worker"):
        assert SERVICES[name]["restart"] == "unless-stopped", name
        assert SERVICES[name]["healthcheck"]["test"], name


def test_no_credential_is_written_into_the_file():
    lines = (ROOT / "compose.yaml").read_text(encoding="utf-8").splitlines()
    text = "\n".join(line.split("#", 1)[0] for line in lines)
    for key, value in re.findall(r"^\s*(\w*(?:PASSWORD|SECRET|KEY)\w*):\s*(\S+)", text, re.MULTILINE):
        assert value.startswith("${"), f"{key} is written in: {value}"
    assert "crm:crm@" not in text


def test_the_image_owns_the_directories_its_volumes_mount_for_its_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    mounted = {volume.split(":")[1] for volume in SERVICES["api"]["volumes"] + SERVICES["worker"]["volumes"]}
    assert mounted == {"/data/files", "/data/var"}
    assert "mkdir -p /data/files /data/var && chown -R crm /data" in dockerfile
    assert "USER crm" in dockerfile
