"""Signing keys: an empty or blank key from any source is a ConfigError naming the field;
only an absent key (None) means unsigned. ``hitbox check`` says which it is."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import hitbox
import pytest
from hitbox.codec import EnvelopeCodec
from hitbox.config import load_file

KEY = "a-signing-key-of-32-characters!!"


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hitbox.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: hitbox.Cache.from_url("memory://?mode=bytes", signing_key=""), "signing_key"),
        (lambda: hitbox.Cache.from_url("memory://?mode=bytes", signing_key="  "), "signing_key"),
        (lambda: hitbox.Cache.from_url("memory://?mode=bytes&signing_key="), "backend.signing_key"),
        (lambda: hitbox.Cache.from_url("example://?signing_key=%20%20"), "backend.signing_key"),
        (
            lambda: hitbox.Cache.from_config(
                {"backend": {"name": "memory", "mode": "bytes", "signing_key": "\t"}}
            ),
            "backend.signing_key",
        ),
        (
            lambda: hitbox.Cache.from_config(
                {"backend": {"name": "tiered", "tiers": ["example"]}, "signing_key": ""}
            ),
            "signing_key",
        ),
    ],
)
def test_blank_signing_key_is_a_config_error(build: Callable[[], object], field: str) -> None:
    with pytest.raises(hitbox.ConfigError) as caught:
        build()
    assert caught.value.field == field
    assert "must not be empty or blank" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_empty_environment_key_does_not_silently_unsign_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, f'backend = "example://"\nsigning_key = "{KEY}"\n')
    signed = hitbox.Cache.from_config(load_file(path, {}))
    assert signed.backend.signed is True
    with pytest.raises(hitbox.ConfigError, match=r"^invalid configuration: signing_key: must not"):
        hitbox.Cache.from_config(load_file(path, {"HITBOX_SIGNING_KEY": ""}))


def test_absent_key_means_unsigned() -> None:
    assert hitbox.Cache.from_url("example://").backend.signed is False
    assert (
        hitbox.Cache.from_config({"backend": "example://", "signing_key": None}).backend.signed
        is False
    )


def test_codec_refuses_blank_bytes() -> None:
    with pytest.raises(hitbox.ConfigError, match="signing_key is empty or blank"):
        EnvelopeCodec(b" " * 32)
    with pytest.raises(hitbox.ConfigError, match="signing_key is empty or blank"):
        EnvelopeCodec(b"")
    assert EnvelopeCodec(None).signed is False


def test_secret_is_never_echoed_but_blankness_is() -> None:
    with pytest.raises(hitbox.ConfigError) as caught:
        hitbox.Cache.from_config({"backend": "memory://", "signing_key": 12345})
    assert "12345" not in str(caught.value)
    with pytest.raises(hitbox.ConfigError) as blank:
        hitbox.Cache.from_config({"backend": "memory://", "signing_key": "  "})
    assert str(blank.value).endswith("(got '  ')")


def _check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hitbox", "check", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_check_reports_whether_entries_are_signed(tmp_path: Path) -> None:
    signed = _check("--url", f"example://?signing_key={KEY}")
    assert signed.returncode == 0, signed.stderr
    assert "entries: signed (HMAC-SHA256)" in signed.stdout
    unsigned = _check("--url", "memory://?mode=bytes")
    assert "entries: unsigned (set signing_key to sign them)" in unsigned.stdout
    objects = _check("--url", "memory://")
    assert "entries: in-process objects" in objects.stdout
    path = _toml(tmp_path, f'signing_key = "{KEY}"\n[backend]\nname = "tiered"\n')
    path.write_text(path.read_text() + 'tiers = ["memory", "example"]\n')
    tiered = _check("--config", str(path))
    assert tiered.returncode == 0, tiered.stderr
    assert "memory: in-process objects" in tiered.stdout
    assert "example: signed (HMAC-SHA256)" in tiered.stdout
    emptied = _check("--config", str(path), env={"HITBOX_SIGNING_KEY": ""})
    assert emptied.returncode == 2
    assert emptied.stderr.startswith("hitbox: error: invalid configuration: signing_key: must")
    assert "Traceback" not in emptied.stderr
