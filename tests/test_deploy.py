"""deploy/: the compose file validates against the compose-spec schema; the Kubernetes manifests parse
and hang together; every command either runs is a `whoknows` command with options it has; every
WHOKNOWS_ variable they set is a setting. (Docker does not run here: no image is built.)"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml

from connectors.registry import load_sources_config
from service.api.ops import router as ops_router
from service.cli.main import app as cli_app
from service.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


class CommandError(ValueError):
    """`whoknows ARGS` would be refused: no such command or option, a missing or mistyped value."""


def _parse(command: Any, name: str, args: list[str], parent: Any) -> Any:
    try:
        return command.make_context(name, list(args), parent=parent)
    except Exception as exc:  # typer's own copy of click raises its usage errors
        raise CommandError(f"whoknows {' '.join(args)}: {exc}") from exc


def check_command(args: list[str]) -> Any:
    """Parse `whoknows ARGS` the way the CLI would, without running it; returns the command's context
    (its `params` hold the parsed values) or raises CommandError."""
    command: Any = typer.main.get_command(cli_app)
    parent, name, rest = None, "whoknows", list(args)
    while hasattr(command, "get_command"):  # a group: its options, then a command of it
        takes_value = {opt: not p.is_flag for p in command.params if hasattr(p, "is_flag") for opt in p.opts}
        i = 0
        while i < len(rest) and rest[i].startswith("-"):
            if rest[i] not in takes_value:
                raise CommandError(f"{name} has no option {rest[i]}")
            i += 2 if takes_value[rest[i]] else 1
        if i == len(rest):
            raise CommandError(f"{name}: no command given")
        context = _parse(command, name, rest, parent)  # checks the group's own options
        sub = command.get_command(context, rest[i])
        if sub is None:
            raise CommandError(f"{name} has no command {rest[i]!r}")
        parent, command, name, rest = context, sub, rest[i], rest[i + 1 :]
    return _parse(command, name, rest, parent)


def test_the_command_check_can_fail() -> None:
    check_command(["tokens", "create", "--user", "ana", "--json"])
    for bad in (
        ["reindex", "--bogus"],
        ["serve", "--port", "eighty"],
        ["reindx"],
        ["tokens"],
        ["--nope", "serve"],
    ):
        with pytest.raises(CommandError):
            check_command(bad)


def check_environment(names: list[str]) -> None:
    fields = set(Settings.model_fields)
    for name in names:
        if name.startswith("WHOKNOWS_"):
            assert name.removeprefix("WHOKNOWS_").lower() in fields, f"{name} is not a WhoKnows setting"


# --- docker compose -------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    schema = json.loads(
        (resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text()
    )
    validator = jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    broken = compose()
    broken["services"]["api"]["replica"] = 2  # a misspelt key
    assert not validator.is_valid(broken)  # the schema is really applied


def test_compose_runs_postgres_two_replicas_a_proxy_and_the_reindex_job() -> None:
    services = compose()["services"]
    assert services["api"]["deploy"]["replicas"] == 2 and services["postgres"]["image"].startswith(
        "postgres:"
    )
    assert services["proxy"]["image"].startswith("nginx") and "jobs" in services["reindex"]["profiles"]
    for name in ("api", "reindex"):
        service = services[name]
        context = check_command(service["command"])
        check_environment(list(service["environment"]))
        assert service["environment"]["WHOKNOWS_DATABASE_URL"].startswith("postgresql://whoknows:")
        assert "@postgres:5432/whoknows" in service["environment"]["WHOKNOWS_DATABASE_URL"]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        mounted = {v.split(":")[1] for v in service["volumes"]}
        assert service["environment"]["WHOKNOWS_SNAPSHOTS_DIR"] in mounted  # the shared snapshot folder
        if name == "reindex":
            assert "/data" in mounted  # the job's own home: its store of record and vector cache
            assert str(context.params["config"]) == "/etc/whoknows/sources.toml"
            assert "/etc/whoknows/sources.toml" in mounted
    # nginx sends traffic to the replicas' port, and WhoKnows trusts exactly nginx's address.
    port = check_command(services["api"]["command"]).params["port"]
    conf = (DEPLOY / "nginx.conf").read_text()
    assert re.search(rf"server api:{port}\b", conf)
    proxy_ip = services["proxy"]["networks"]["front"]["ipv4_address"]
    assert json.loads(services["api"]["environment"]["WHOKNOWS_TRUSTED_PROXIES"]) == [proxy_ip]
    assert 'proxy_set_header X-Forwarded-User "";' in conf  # clients cannot claim an identity


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per step, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_dockerfile_builds_what_the_recipes_run() -> None:
    steps = dockerfile()
    known = {"FROM", "ARG", "ENV", "RUN", "WORKDIR", "COPY", "USER", "VOLUME", "EXPOSE", "ENTRYPOINT", "CMD"}
    assert {name for name, _ in steps} <= known
    first = {name: value for name, value in reversed(steps)}
    assert json.loads(first["ENTRYPOINT"]) == ["whoknows"]
    assert check_command(json.loads(first["CMD"])).params["port"] == int(first["EXPOSE"])
    repo = DEPLOY.parent
    for source in (value.split()[0] for name, value in steps if name == "COPY"):
        assert (repo / source).exists(), f"COPY {source}: not in the repository"
    runs = " ".join(value for name, value in steps if name == "RUN")
    assert "torch==2.13.0" in runs and "'.[ray,postgres]'" in runs
    assert "WHOKNOWS_HOME=/data" in first["ENV"]


def test_the_example_sources_file_parses(tmp_path: Path) -> None:
    docs = tmp_path / "docs"  # stands for /srv/docs, the folder the recipes mount
    docs.mkdir()
    text = (DEPLOY / "sources.toml").read_text()
    assert '"/srv/docs"' in text
    (tmp_path / "sources.toml").write_text(text.replace('"/srv/docs"', json.dumps(str(docs))))
    [source] = load_sources_config(tmp_path / "sources.toml")
    assert source.type == "files" and source.path == docs
    configmap = yaml.safe_load((KUBERNETES / "configmap.yaml").read_text())
    assert (
        configmap["data"]["sources.toml"].strip()
        == "\n".join(
            line for line in (DEPLOY / "sources.toml").read_text().splitlines() if not line.startswith("#")
        ).strip()
    )


# --- Kubernetes ------------------------------------------------------------------------------------


def manifests() -> list[dict[str, Any]]:
    out = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], path
            out.append(doc)
    return out


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests() if d["kind"] == kind}


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_manifests_run_whoknows_commands_that_exist_on_volumes_and_secrets_that_exist() -> None:
    claims, secrets, configmaps = by_kind("PersistentVolumeClaim"), by_kind("Secret"), by_kind("ConfigMap")
    routes = {getattr(r, "path", None) for r in ops_router.routes}
    [deployment] = by_kind("Deployment").values()
    [cronjob] = by_kind("CronJob").values()
    assert deployment["spec"]["replicas"] == 2 and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    for doc in (deployment, cronjob):
        spec = pod_spec(doc)
        volumes = {v["name"]: v for v in spec["volumes"]}
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps
        for container in spec["containers"]:
            assert "command" not in container or container["command"][0] == "whoknows"
            context = check_command(container["args"])
            check_environment([e["name"] for e in container["env"]])
            for env in container["env"]:
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert set(mounts.values()) <= set(volumes)
            # every pod serves or publishes the one shared snapshot folder; only the job keeps a home
            assert mounts["/data"] == "data"
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert mounts[env["WHOKNOWS_SNAPSHOTS_DIR"]] == "snapshots"
            assert volumes["snapshots"]["persistentVolumeClaim"]["claimName"] == "whoknows-snapshots"
            if doc is cronjob:
                assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "whoknows-job"
            else:
                assert "emptyDir" in volumes["data"]  # a replica needs nothing of its own on disk
            if doc is cronjob:  # the sources file the job reads is the ConfigMap's key, where it is mounted
                config = Path(str(context.params["config"]))
                assert (
                    mounts[str(config.parent)] == "config"
                    and config.name in configmaps["whoknows-config"]["data"]
                )
            else:
                port = context.params["port"]
                assert [p["containerPort"] for p in container["ports"]] == [port]
                for probe in ("readinessProbe", "livenessProbe"):
                    assert container[probe]["httpGet"]["path"] in routes
    assert "ReadWriteMany" in claims["whoknows-snapshots"]["spec"]["accessModes"]  # one folder, every pod
    [service] = [s for s in by_kind("Service").values() if s["metadata"]["name"] == "whoknows-api"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
