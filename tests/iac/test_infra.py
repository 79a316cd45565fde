"""The deployment template, checked offline: `azure.yaml`, `infra/*.bicep` and its parameters.

What can be checked here without Azure: every Bicep file parses (pycep-parser, the parser
checkov itself uses), checkov's Azure policies pass or are skipped with a reason written where
the skip is, and the app settings the template sets are the README's settings table and
`local.settings.sample.json` (the same names, apart from the few listed below with why). The
Bicep CLI, `az deployment what-if` and a real deployment cannot run here (README, "Deploying to
Azure").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from switchboard.settings import setting_names

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-iac" / "bin" / "checkov"))

#: In local.settings.sample.json, never in Azure, and why.
LOCAL_ONLY = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption sets the runtime in functionAppConfig",
    "AzureWebJobsFeatureFlags": "worker indexing is on by default in Azure",
    "AzureWebJobsStorage": "Azure uses the identity form (__accountName, __credential, __clientId)",
    "AzureWebJobsStorage__tableServiceUri": "only for clouds or endpoints __accountName cannot name",
    "AzureWebJobsStorage__queueServiceUri": "only for clouds or endpoints __accountName cannot name",
    "LINES_CLOCK": "honoured outside Azure only",
    "DEVHOST_FUNCTION_KEY": "the local host's function key; Azure has its own keys",
}
#: Set in Azure by the template, never locally, and why.
AZURE_ONLY = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "the Application Insights resource",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Entra authentication with the app's identity",
}
#: Set by the platform itself: read by the app, set by nobody else.
PLATFORM = {"WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "WEBSITE_HOSTNAME", "WEBSITE_AUTH_ENABLED"}


def parse(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = BicepParser().parse(file_path=path)
    return result


@pytest.fixture(scope="module")
def app_template() -> dict[str, Any]:
    return parse(INFRA / "app.bicep")


def template_settings(template: dict[str, Any]) -> set[str]:
    """The names of every app setting the template sets: the keys of the objects united into
    the site's `appsettings` config."""
    config = template["resources"]["siteSettings"]["config"]
    assert config["name"] == "appsettings"
    union = config["properties"]["function"]
    assert union["type"] == "union"
    names: set[str] = set()
    for argument in union["parameters"].values():
        if argument in template["variables"]:
            names |= set(template["variables"][argument]["value"])
        else:  # the caller's overrides: a parameter, no names of its own
            assert argument in template["parameters"], argument
    return names


def readme_settings() -> set[str]:
    """The names in the first column of README's settings table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names |= set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", first))
    return names


def test_every_bicep_file_parses() -> None:
    files = sorted(INFRA.rglob("*.bicep"))
    assert [f.name for f in files] == ["app.bicep", "main.bicep"]
    for path in files:
        parsed = parse(path)
        assert parsed["resources"] or parsed["modules"], path


def test_azure_yaml_deploys_this_folder_as_a_function_app_from_infra_main() -> None:
    config = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert config["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    (service,) = config["services"].values()
    assert service == {"project": ".", "language": "python", "host": "function"}
    hook = config["hooks"]["postdeploy"]["posix"]["run"]
    assert (ROOT / hook).is_file()
    assert os.access(ROOT / hook, os.X_OK)


def test_the_parameters_file_gives_every_required_parameter_but_the_secrets() -> None:
    main = parse(INFRA / "main.bicep")
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    required = {
        name
        for name, parameter in main["parameters"].items()
        if parameter.get("default") is None
        and not any(d.get("type") == "secure" for d in parameter["decorators"])
    }
    assert required - set(given) == set()
    assert set(given) <= set(main["parameters"])
    module_params = set(main["modules"]["app"]["config"]["params"])
    assert module_params == set(parse(INFRA / "app.bicep")["parameters"])


def test_the_template_runs_python_313_on_flex_consumption(app_template: dict[str, Any]) -> None:
    plan = app_template["resources"]["plan"]["config"]
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = app_template["resources"]["site"]["config"]["properties"]
    assert site["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.13"}
    assert site["httpsOnly"] is True
    storage = app_template["resources"]["storage"]["config"]["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    insights = app_template["resources"]["insights"]["config"]["properties"]
    assert insights["DisableLocalAuth"] is True
    vault = app_template["resources"]["vault"]["config"]["properties"]
    assert vault["enableRbacAuthorization"] is True


def test_secrets_are_key_vault_references(app_template: dict[str, Any]) -> None:
    text = (INFRA / "app.bicep").read_text(encoding="utf-8")
    for name in (
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY_SECRET",
        "SMTP_PASSWORD",
        "INBOX_SESSION_KEY",
    ):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(name + ":"))
        assert "@Microsoft.KeyVault(VaultName=" in line, name
    assert "SMTP_PASSWORD" not in app_template["variables"]["defaultSettings"]["value"]


def test_app_settings_are_the_settings_table_and_the_sample(app_template: dict[str, Any]) -> None:
    sample = set(json.loads((ROOT / "local.settings.sample.json").read_text())["Values"])
    template = template_settings(app_template)
    table = readme_settings()
    ours = set(setting_names()) - PLATFORM
    assert template == (sample - set(LOCAL_ONLY)) | set(AZURE_ONLY)
    assert set(LOCAL_ONLY) <= sample
    assert not set(AZURE_ONLY) & sample
    # DEVHOST_FUNCTION_KEY is read by the local host (devkit), not by the app.
    assert table == ours | {"DEVHOST_FUNCTION_KEY"}, "README settings table vs settings.py"
    # Beyond that, the sample adds only the Functions host's own settings to ours.
    host = {
        "FUNCTIONS_WORKER_RUNTIME",
        "AzureWebJobsFeatureFlags",
        "PYTHON_THREADPOOL_THREAD_COUNT",
    }
    assert sample - ours == host | {"DEVHOST_FUNCTION_KEY"}


def test_checkov_finds_no_failed_check_and_every_skip_has_a_reason() -> None:
    if not CHECKOV.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHECKOV} is missing: `make test` installs it (requirements-iac.txt)")
        pytest.skip(f"checkov not installed at {CHECKOV}: `make test` installs it")
    done = subprocess.run(
        [str(CHECKOV), "-d", str(INFRA), "--skip-download", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""},
        check=False,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    kinds = {r["check_type"] for r in reports}
    assert "bicep" in kinds, kinds
    for report in reports:
        summary = report["summary"]
        failed = [
            (f["check_id"], f["resource"], f["file_path"])
            for f in report["results"].get("failed_checks", [])
        ]
        assert failed == [], f"{report['check_type']}: {failed}"
        assert summary["parsing_errors"] == 0, report["check_type"]
        for skipped in report["results"].get("skipped_checks", []):
            reason = (skipped.get("check_result") or {}).get("suppress_comment") or ""
            assert len(reason.strip()) > 20, (skipped["check_id"], skipped["resource"])
    bicep = next(r for r in reports if r["check_type"] == "bicep")
    assert bicep["summary"]["passed"] >= 30
    assert done.returncode == 0, done.stderr[-2000:]
    print(sys.version, {r["check_type"]: r["summary"] for r in reports})
