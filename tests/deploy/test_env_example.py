""".env.example is the single list of settings: every variable the settings classes read must be documented there.

The names come from the code itself (shared.settings.BaseServiceSettings and each `<svc>.config` settings class,
with their env prefixes and aliases), so a service that adds a setting without documenting it fails here.
"""

from __future__ import annotations

import pytest

OWNERS = ("shared", "gateway", "auth", "shows", "media", "social")


def test_shared_settings_are_found(settings_classes):
    assert "shared" in settings_classes
    assert settings_classes["shared"].model_fields, "BaseServiceSettings has no fields?"


@pytest.mark.parametrize("owner", OWNERS)
def test_every_setting_is_documented(owner, service_setting_groups, env_example):
    groups = service_setting_groups[owner]
    if groups is None:
        pytest.skip(f"{owner}.config has no settings class yet")
    missing = sorted(" or ".join(sorted(g)) for g in groups if not g & env_example.documented)
    assert not missing, (
        f"{owner} reads {missing} but .env.example does not document them: add each as `NAME=default` "
        "(or `# NAME=default` in the Tuning section when compose/k8s need not set it)"
    )
