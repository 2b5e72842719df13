"""Pulumi.yaml's config block is what the settings models declare: python -m tools.configdoc writes it."""

import yaml

from components.settings import HubSettings
from components.settings.loader import PROJECT_FILE
from tools import configdoc

STALE = "Pulumi.yaml's config block differs from the settings models: run python -m tools.configdoc and commit it"


def test_the_committed_config_block_is_the_models():
    assert configdoc.project_file() == PROJECT_FILE.read_text(), STALE


def test_the_block_follows_the_models(monkeypatch):
    field = HubSettings.model_fields["cull_timeout"]
    monkeypatch.setattr(field, "default", 1800)
    monkeypatch.setattr(field, "description", "Seconds of inactivity, changed.")
    assert ("  hub.cullTimeout:\n    default: 1800\n    description: >-\n      (whole number) Seconds of inactivity, "
            "changed.\n  hub.prePuller:\n") in configdoc.block()
    assert configdoc.project_file() != PROJECT_FILE.read_text()


def test_every_setting_reads_back_with_its_default_and_kind():
    config = yaml.safe_load(configdoc.block())["config"]
    assert config["namespace"] == {"type": "string", "default": "jupyterhub", "description":
                                   "Kubernetes namespace of the environment (hub, NFS server, data services)."}
    assert config["services.kafka.version"]["default"] == "4.3.1"  # a string, though it looks like a number
    assert config["auth.scopes"]["default"] == ["openid", "profile", "email"]
    assert config["cluster.deletionProtection"]["default"] is True and "type" not in config["cluster.deletionProtection"]
    assert config["services.kafka.paused"]["description"].endswith("(annotation strimzi.io/pause-reconciliation), to "
                                                                    "give a new cluster the id of the one whose volumes it "
                                                                    "takes over after a teardown (README, \"Tearing down\").")
    assert "hub.profiles" not in config and "auth.clientSecret" not in config  # objects and secrets: the stack files


def test_only_the_block_is_rewritten_and_the_tool_says_so(tmp_path, monkeypatch, capsys):
    project = tmp_path / "Pulumi.yaml"
    project.write_text("name: mltraining\n# a comment about settings\nconfig:\n  namespace:\n    default: stale-default\n"
                       "  # an old section\n  hub.host:\n    default: x\nbackend:\n  url: file://.\n")
    monkeypatch.setattr(configdoc, "PROJECT_FILE", project)
    assert configdoc.main() == 0
    written = project.read_text()
    assert written.startswith("name: mltraining\n# a comment about settings\nconfig:\n  namespace:\n    type: string\n")
    assert written.endswith("\n\nbackend:\n  url: file://.\n") and "stale-default" not in written
    assert yaml.safe_load(written)["config"] == yaml.safe_load(configdoc.block())["config"]
    settings = len(yaml.safe_load(configdoc.block())["config"])
    assert capsys.readouterr().out == f"Pulumi.yaml: config block written from the settings models ({settings} settings)\n"
    assert configdoc.main() == 0 and project.read_text() == written
    assert capsys.readouterr().out == "Pulumi.yaml: the config block already matches the settings models\n"
