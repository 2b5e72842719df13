"""The project's own image, images/scala-spark (the Scala profile's), and the workflow that pushes it.

No container engine runs here, so the image is never built in these tests: its Dockerfile is linted (hadolint),
read for what the program relies on (base, versions, where the kernel lives), and its kernel script
(spark_kernel.py) is run for real on what it reads: the Spark 4.2.0 launcher of the pyspark package where it is
installed, the program's own PYSPARK_SUBMIT_ARGS, a coursier bootstrap laid out as coursier writes one. The
image's own smoke test (the Dockerfile's smoke-test stage) runs where it is built, in .github/workflows/images.yml.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from components.hub import hub as hub_module
from components import settings
from components.services import spark
from components.settings import (PYSPARK_IMAGE, SCALA_SPARK_CONTEXT, SCALA_SPARK_IMAGE, SCALA_SPARK_REPOSITORY,
                                 SCALA_SPARK_TAG, SPARK_SCALA_VERSION)
from tests.conftest import config_error, run_preview
from tools import preview as offline

ROOT = offline.ROOT
DOCKERFILE = SCALA_SPARK_CONTEXT / "Dockerfile"
WORKFLOW = ROOT / ".github" / "workflows" / "images.yml"
BIN = Path(sys.executable).parent
REGISTRY = "ghcr.io/ml-training-example"
# What jupyter/docker-stacks' images set (images/docker-stacks-foundation/Dockerfile): ENV CONDA_DIR=/opt/conda,
# HOME=/home/${NB_USER} with NB_USER jovyan; SPARK_HOME=/usr/local/spark (images/pyspark-notebook/Dockerfile).
IMAGE_ENV = {"CONDA_DIR": "/opt/conda", "HOME": "/home/jovyan", "SPARK_HOME": "/usr/local/spark",
             "NB_UID": "1000", "NB_GID": "100", "COURSIER_CACHE": "/opt/coursier/cache"}

_PYSPARK = importlib.util.find_spec("pyspark")
PYSPARK_HOME = Path(_PYSPARK.origin).parent if _PYSPARK and _PYSPARK.origin else None
JAVA = shutil.which("java")


def load_kernel_script():
    """images/scala-spark/spark_kernel.py as a module, without writing bytecode into the image's build folder."""
    spec = importlib.util.spec_from_file_location("spark_kernel", SCALA_SPARK_CONTEXT / "spark_kernel.py")
    module = importlib.util.module_from_spec(spec)
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


kernel = load_kernel_script()


# --- the Dockerfile -----------------------------------------------------------------------------------------------


def dockerfile() -> str:
    return DOCKERFILE.read_text()


def instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in dockerfile().splitlines()
                                               if not line.lstrip().startswith("#")))
    return [line.strip() for line in joined.splitlines() if line.strip()]


def build_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile(), re.M))


def expand(text: str, extra: dict[str, str] = {}) -> str:
    """${VAR} and ${VAR%.*} as the image's shell expands them, from the build args and the base's environment."""
    values = {**IMAGE_ENV, **build_args(), **extra}

    def one(match: re.Match) -> str:
        value = values[match.group(1)]
        return value.rsplit(".", 1)[0] if match.group(2) == "%.*" else value

    return re.sub(r"\$\{(\w+)(%\.\*)?\}", one, text)


def run_instruction(start: str) -> str:
    [command] = [line for line in instructions() if line.startswith(f"RUN {start}")]
    return command


def test_the_dockerfile_lints_clean():
    """hadolint (pinned in requirements-test.txt), every rule: the one ignored is justified in the file."""
    result = subprocess.run([str(BIN / "hadolint"), "--no-color", "--format", "json", str(DOCKERFILE)],
                            capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
    assert result.returncode == 0
    for ignored in re.findall(r"hadolint (?:global )?ignore=(\S+)", dockerfile()):
        for rule in ignored.split(","):
            assert re.search(rf"^# {rule} \(", dockerfile(), re.M), f"{rule} is ignored without its reason"


def test_the_image_is_built_on_the_spark_clusters_image():
    """The kernel's driver gets the workers' Spark, Scala and Java because it runs on their very image."""
    froms = [line.split()[1] for line in instructions() if line.startswith("FROM ")]
    assert froms[0] == PYSPARK_IMAGE
    assert all(base in ("kernel", "smoke-test") for base in froms[1:])
    args = build_args()
    assert args["SPARK_VERSION"] == spark.runtime(PYSPARK_IMAGE).spark
    assert args["SCALA_VERSION"].rsplit(".", 1)[0] == SPARK_SCALA_VERSION
    # Spark 4 runs on Java 17 and newer; the base's Java is 21 (images/pyspark-notebook/Dockerfile of
    # jupyter/docker-stacks: ARG openjdk_version="21", the commit the comment cites).
    assert int(args["JAVA_VERSION"]) >= 17
    assert args["JAVA_VERSION"] == "21" and 'openjdk_version="21"' in dockerfile()
    # ... and the build stops when the base is not that: Spark's jars of that version and Scala, that Java.
    check = run_instruction("test -f")
    assert expand('test -f "${SPARK_HOME}/jars/spark-core_${SCALA_VERSION%.*}-${SPARK_VERSION}.jar"') == \
        'test -f "/usr/local/spark/jars/spark-core_2.13-4.2.0.jar"'
    for needed in ('"${SPARK_HOME}/jars/spark-core_${SCALA_VERSION%.*}-${SPARK_VERSION}.jar"',
                   '"${SPARK_HOME}/jars/scala-library-${SCALA_VERSION}.jar"',
                   "java\\.specification\\.version = ${JAVA_VERSION}$"):
        assert needed in check


@pytest.mark.skipif(PYSPARK_HOME is None, reason="pyspark not installed (requirements-test.txt)")
def test_the_kernels_scala_is_the_scala_of_the_clusters_spark():
    """pyspark's package carries the jars of the same Spark release as the image: its Scala library is the version
    the kernel is built for, so Spark's classes on the driver run on the Scala they were compiled against."""
    from pyspark.version import __version__

    assert __version__ == build_args()["SPARK_VERSION"]
    assert [jar.name for jar in (PYSPARK_HOME / "jars").glob("scala-library-*.jar")] == \
        [f"scala-library-{build_args()['SCALA_VERSION']}.jar"]


def test_every_download_is_pinned():
    args = build_args()
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", args["ALMOND_VERSION"])
    assert re.fullmatch(r"2\.13\.[0-9]+", args["SCALA_VERSION"])
    # coursier's launcher from a commit of coursier/launchers, checked by its sha256.
    assert re.fullmatch(r"https://raw\.githubusercontent\.com/coursier/launchers/[0-9a-f]{40}/coursier",
                        args["COURSIER_URL"])
    assert re.fullmatch(r"[0-9a-f]{64}", args["COURSIER_SHA256"])
    assert 'echo "${COURSIER_SHA256} */usr/local/bin/coursier" | sha256sum -c -' in run_instruction("test -f")
    bootstrap = run_instruction("coursier bootstrap")
    assert '"sh.almond:scala-kernel_${SCALA_VERSION}:${ALMOND_VERSION}"' in bootstrap
    assert '-i user -I "user:sh.almond:scala-kernel-api_${SCALA_VERSION}:${ALMOND_VERSION}"' in bootstrap
    assert "--standalone" not in bootstrap  # spark_kernel.prepare reads the jars' URLs from the bootstrap


def kernel_install() -> dict[str, object]:
    """What almond's installer is given: its --jupyter-path, --id and the --arg list (the kernel's command)."""
    command = run_instruction("coursier bootstrap").split(" && ")[1]
    words = [expand(word.strip('"')) for word in re.findall(r'"[^"]*"|\S+', command)]
    assert words[:2] == ["/opt/almond/almond", "--install"]
    options = {"arg": []}
    for option, value in zip(words[2::2], words[3::2]):
        if option == "--arg":
            options["arg"].append(value)
        else:
            options[option.lstrip("-")] = value
    return options


def test_the_kernel_lives_outside_the_home_folder():
    """The personal folder is mounted on /home/jovyan: the kernel spec, the launcher, the files it reads and the
    coursier cache of its jars must all be elsewhere in the image."""
    home = hub_module.HOME
    install = kernel_install()
    kernels = Path(install["jupyter-path"])
    assert kernels == Path("/opt/conda/share/jupyter/kernels")
    # Jupyter looks for kernels in sys.prefix/share/jupyter (jupyter_core's ENV_JUPYTER_PATH), and the image's
    # Python is the conda one in CONDA_DIR.
    from jupyter_core.paths import ENV_JUPYTER_PATH

    assert ENV_JUPYTER_PATH == [os.path.join(sys.prefix, "share", "jupyter")]
    assert kernels.parent == Path(IMAGE_ENV["CONDA_DIR"], "share", "jupyter")
    paths = [kernels / install["id"], *(Path(arg) for arg in install["arg"]), Path(kernel.ALMOND_HOME),
             Path(re.search(r"^ENV COURSIER_CACHE=(\S+)$", dockerfile(), re.M).group(1))]
    assert all(not path.is_relative_to(home) for path in paths), paths
    assert install["id"] == build_args()["KERNEL"]
    # The build proves it too: the kernel spec where Jupyter finds it, nothing in the home folder.
    check = run_instruction('"${CONDA_DIR}/bin/python" /opt/almond/spark_kernel.py prepare')
    assert "jupyter kernelspec list --json" in check
    assert 'test ! -e "${HOME}/.cache/coursier/v1" && test ! -e "${HOME}/.local/share/jupyter/kernels"' in check


def test_the_kernel_spec_runs_the_kernel_script():
    """almond's installer writes argv = the --arg values and then --connection-file {connection_file}
    (Install.defaultConnectionFileArgs, almond-sh/almond v0.14.5): the image's Python runs spark_kernel.py run."""
    install = kernel_install()
    assert install["arg"] == ["/opt/conda/bin/python", f"{kernel.ALMOND_HOME}/spark_kernel.py", "run"]
    assert re.search(r"^COPY --chown=\$\{NB_UID\}:\$\{NB_GID\} spark_kernel\.py /opt/almond/$", dockerfile(), re.M)
    assert install["display-name"] == f"Scala {SPARK_SCALA_VERSION} (Spark {spark.runtime(PYSPARK_IMAGE).spark})"


def test_every_build_runs_the_smoke_test():
    """The last stage copies the smoke test's log, so the image exists only if the test passed."""
    lines = instructions()
    assert lines[-2:] == ["FROM kernel", "COPY --from=smoke-test /tmp/smoke-test.log /opt/almond/smoke-test.log"]
    smoke = run_instruction('SPARK_SCALA_VERSION="${SCALA_VERSION%.*}"')
    assert '--master "local-cluster[1,1,1024]"' in smoke and '--spark-version "${SPARK_VERSION}"' in smoke
    assert "| tee /tmp/smoke-test.log" in smoke
    cells = kernel.smoke_test_cells("local-cluster[1,1,1024]", "4.2.0")
    assert any("def square" in cell for cell in cells) and any(".map(square)" in cell for cell in cells)


# --- spark_kernel.py: what the build records --------------------------------------------------------------------


def fake_launcher_output(options: list[str]) -> bytes:
    """What org.apache.spark.launcher.Main prints for SparkSubmit on Unix: the command, NUL-separated."""
    command = ["/usr/lib/jvm/java-21-openjdk-amd64/bin/java", "-cp", "/usr/local/spark/conf/:/usr/local/spark/jars/*",
               "-Xmx1g", *options, kernel.SPARK_SUBMIT, "--class", "unused", "spark-internal"]
    return "".join(f"{part}\0" for part in command).encode()


def test_the_driver_options_are_spark_submits_less_the_heap():
    options = ["-XX:+IgnoreUnrecognizedVMOptions", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
               "-Dderby.connection.requireAuthentication=false"]
    assert kernel.driver_java_options(fake_launcher_output(options)) == options
    with pytest.raises(ValueError):
        kernel.driver_java_options(fake_launcher_output(["-Dderby.connection.requireAuthentication=false"]))
    with pytest.raises(ValueError):
        kernel.driver_java_options(b"usage 1\0")


@pytest.mark.skipif(PYSPARK_HOME is None or JAVA is None, reason="needs pyspark (requirements-test.txt) and java")
def test_the_driver_options_of_spark_4_2_0s_own_launcher():
    """spark_kernel.py prepare, on the launcher of the pyspark package (Spark 4.2.0, as the image's)."""
    environment = {**os.environ, "SPARK_HOME": str(PYSPARK_HOME), "SPARK_SCALA_VERSION": SPARK_SCALA_VERSION}
    output = subprocess.run(kernel.launcher_command(PYSPARK_HOME), env=environment, check=True,
                            stdout=subprocess.PIPE, timeout=120).stdout
    options = kernel.driver_java_options(output)
    # SPARK-36796's module options, led by the flag that lets older JVMs skip the newer ones.
    assert options[0] == "-XX:+IgnoreUnrecognizedVMOptions"
    assert "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED" in options
    assert not any(option.startswith(("-Xmx", "-cp")) or option == kernel.SPARK_SUBMIT for option in options)


def bootstrap_jar(path: Path, loaders: dict[str, list[str]], main: list[str]) -> Path:
    """A launcher laid out as coursier's BootstrapGenerator writes one: a shell preamble, then a jar whose
    resources list each shared loader's URLs (bootstrap-jar-urls-N, bootstrap-loader-name-N) and the main one's."""
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: coursier.bootstrap.launcher.Launcher\n")
        for index, (name, urls) in enumerate(loaders.items(), start=1):
            jar.writestr(f"{kernel.BOOTSTRAP_RESOURCES}bootstrap-jar-urls-{index}", "\n".join(urls))
            jar.writestr(f"{kernel.BOOTSTRAP_RESOURCES}bootstrap-jar-resources-{index}", "")
            jar.writestr(f"{kernel.BOOTSTRAP_RESOURCES}bootstrap-loader-name-{index}", name)
        jar.writestr(f"{kernel.BOOTSTRAP_RESOURCES}bootstrap-jar-urls", "\n".join(main))
    path.write_bytes(b'#!/usr/bin/env sh\nexec java -jar "$0" "$@"\n' + content.getvalue())
    return path


MAVEN = "https://repo1.maven.org/maven2"
USER_URLS = [f"{MAVEN}/sh/almond/scala-kernel-api_2.13.18/0.14.5/scala-kernel-api_2.13.18-0.14.5.jar",
             f"{MAVEN}/org/scala-lang/scala-library/2.13.18/scala-library-2.13.18.jar",
             f"{MAVEN}/com/lihaoyi/pprint_2.13/0.9.0/pprint_2.13-0.9.0-sources.jar",
             "https://jitpack.io/com/github/jupyter/jvm-repr/0.4.0/jvm-repr-0.4.0.jar"]


def test_executors_get_the_kernels_user_class_path_from_the_coursier_cache(tmp_path):
    launcher = bootstrap_jar(tmp_path / "almond", {"user": USER_URLS}, [f"{MAVEN}/sh/almond/kernel.jar"])
    cache = Path("/opt/coursier/cache")
    jars = kernel.shared_loader_jars(launcher, cache)
    assert jars[0] == cache / "https/repo1.maven.org/maven2/sh/almond/scala-kernel-api_2.13.18/0.14.5/scala-kernel-api_2.13.18-0.14.5.jar"
    assert jars[-1] == cache / "https/jitpack.io/com/github/jupyter/jvm-repr/0.4.0/jvm-repr-0.4.0.jar"
    # Executors have Spark's Scala library, and no use for sources.
    assert [jar.name for jar in kernel.executor_jars(jars)] == ["scala-kernel-api_2.13.18-0.14.5.jar",
                                                                 "jvm-repr-0.4.0.jar"]
    assert kernel.cache_file("https://example.com/a b@c.jar", cache) == cache / "https/example.com/a%20b%40c.jar"
    with pytest.raises(ValueError):
        kernel.shared_loader_jars(bootstrap_jar(tmp_path / "other", {"other": USER_URLS}, []), cache)


# --- spark_kernel.py: the kernel's command ----------------------------------------------------------------------


def notebook_environment(preview) -> dict[str, str]:
    return preview.releases()[hub_module.RELEASE_NAME].inputs["values"]["singleuser"]["extraEnv"]


@pytest.mark.parametrize("stack", ["gke", "baremetal"])
def test_the_kernel_applies_every_spark_setting_the_hub_gives_pyspark(stack, request):
    """PYSPARK_SUBMIT_ARGS as the program writes it: every option becomes a system property of the kernel's JVM."""
    arguments = notebook_environment(request.getfixturevalue(stack))["PYSPARK_SUBMIT_ARGS"]
    applied, ignored = kernel.submit_settings(arguments)
    assert ignored == []
    words = shlex.split(arguments)
    assert words[0] == "--master" and words[-1] == "pyspark-shell"
    expected = {"spark.master": words[1], **dict(value.split("=", 1) for option, value in zip(words, words[1:])
                                                  if option == "--conf")}
    assert applied == expected and "spark.driver.port" in applied


def test_settings_pyspark_would_take_that_a_jvm_cannot_are_reported():
    applied, ignored = kernel.submit_settings("--master local[2] --conf=spark.a=1 --conf b=2 --packages x:y:1 "
                                              "--conf spark.c='x y' pyspark-shell")
    assert applied == {"spark.master": "local[2]", "spark.a": "1", "spark.c": "x y"}
    assert ignored == ["--conf b=2", "--packages", "x:y:1"]


def kernel_home(tmp_path: Path) -> tuple[Path, Path]:
    almond = tmp_path / "opt" / "almond"
    almond.mkdir(parents=True)
    (almond / kernel.DRIVER_JAVA_OPTIONS).write_text("-XX:+IgnoreUnrecognizedVMOptions\n"
                                                     "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED\n")
    (almond / kernel.EXECUTOR_JARS).write_text("/opt/coursier/cache/https/a/api.jar\n/opt/coursier/cache/https/a/b.jar\n")
    spark_home = tmp_path / "spark"
    (spark_home / "jars").mkdir(parents=True)
    for name in ("spark-core_2.13-4.2.0.jar", "spark-repl_2.13-4.2.0.jar", "scala-library-2.13.18.jar",
                 "scala-reflect-2.13.18.jar", "scala-compiler-2.13.18.jar", "scala-xml_2.13-2.4.0.jar"):
        (spark_home / "jars" / name).touch()
    return almond, spark_home


def test_the_kernel_command(tmp_path, gke):
    almond, spark_home = kernel_home(tmp_path)
    environment = {"PYSPARK_SUBMIT_ARGS": notebook_environment(gke)["PYSPARK_SUBMIT_ARGS"], "JAVA_HOME": "/jvm"}
    command, ignored = kernel.kernel_command(environment, ["--connection-file", "/run/kernel-1.json"], "/tmp/classes",
                                             almond_home=almond, spark_home=spark_home)
    assert ignored == []
    jar = command.index("-jar")
    jvm, almond_arguments = command[:jar], command[jar + 1:]
    assert jvm[:3] == ["/jvm/bin/java", "-XX:+IgnoreUnrecognizedVMOptions", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED"]
    properties = dict(option[2:].split("=", 1) for option in jvm[3:])
    assert properties["spark.master"] == notebook_environment(gke)["SPARK_MASTER_URL"]
    assert properties["spark.driver.port"] == str(spark.DRIVER_PORT)
    # The notebook's classes: where almond writes them is what SparkContext serves to executors.
    assert properties["spark.repl.class.outputDir"] == "/tmp/classes"
    assert almond_arguments[almond_arguments.index("--output-directory") + 1] == "/tmp/classes"
    assert properties["spark.jars"] == "/opt/coursier/cache/https/a/api.jar,/opt/coursier/cache/https/a/b.jar"
    assert properties["spark.app.name"] == "scala-notebook"
    assert almond_arguments[0] == str(almond / kernel.LAUNCHER)
    # Spark's jars on the session class path, not its Scala: the kernel's own is the same version.
    session = almond_arguments[almond_arguments.index("--extra-class-path") + 1].split(os.pathsep)
    assert [Path(entry).name for entry in session] == ["scala-xml_2.13-2.4.0.jar", "spark-core_2.13-4.2.0.jar",
                                                       "spark-repl_2.13-4.2.0.jar"]
    assert almond_arguments[-2:] == ["--connection-file", "/run/kernel-1.json"]


def test_the_drivers_heap_follows_spark_driver_memory(tmp_path):
    almond, spark_home = kernel_home(tmp_path)
    command, _ = kernel.kernel_command({"PYSPARK_SUBMIT_ARGS": "--conf spark.driver.memory=2g pyspark-shell"}, [],
                                       "/tmp/c", almond_home=almond, spark_home=spark_home)
    assert "-Xmx2g" in command and command[0] == "java"
    command, _ = kernel.kernel_command({}, [], "/tmp/c", almond_home=almond, spark_home=spark_home)
    assert not any(part.startswith("-Xmx") for part in command)
    assert "-Dspark.master" not in " ".join(command)  # Spark disabled: local sessions only


def test_run_starts_the_kernel_in_place_of_the_script(tmp_path, monkeypatch):
    almond, spark_home = kernel_home(tmp_path)
    started = []
    monkeypatch.setattr(kernel, "ALMOND_HOME", almond)
    monkeypatch.setattr(kernel.os, "execvp", lambda file, args: started.append((file, args)))
    monkeypatch.setattr(kernel.tempfile, "mkdtemp", lambda prefix: f"{tmp_path}/{prefix}x")
    monkeypatch.setenv("SPARK_HOME", str(spark_home))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    kernel.main(["run", "--connection-file", "/run/k.json"])
    [(file, args)] = started
    assert file == "java" and args[-2:] == ["--connection-file", "/run/k.json"]
    assert f"-Dspark.repl.class.outputDir={tmp_path}/almond-classes-x" in args
    monkeypatch.setenv("JUPYTERHUB_USER", "ann")
    kernel.main(["run"])
    assert "-Dspark.app.name=scala-ann" in started[-1][1]


# --- the program's Scala profile -------------------------------------------------------------------------------


def profiles(preview) -> list[dict]:
    return preview.releases()[hub_module.RELEASE_NAME].inputs["values"]["singleuser"]["profileList"]


def test_without_a_registry_the_default_profiles_leave_scala_out():
    slugs = [p["slug"] for p in profiles(run_preview("baremetal", {"hub.imageRegistry": None}))]
    assert "scala" not in slugs and slugs == [p["name"] for p in settings.DEFAULT_PROFILES if p["name"] != "scala"]


def scala_profile(preview) -> dict:
    [scala] = [p for p in profiles(preview) if p["slug"] == "scala"]
    return scala


def test_the_scala_profile_runs_the_image_from_the_registry_at_the_derived_tag():
    preview = run_preview("baremetal", {"hub.imageRegistry": REGISTRY})
    assert scala_profile(preview)["kubespawner_override"]["image"] == f"{REGISTRY}/{SCALA_SPARK_IMAGE}"
    assert SCALA_SPARK_IMAGE == f"{SCALA_SPARK_REPOSITORY}:{SCALA_SPARK_TAG}"
    args = build_args()
    assert SCALA_SPARK_TAG.startswith(f"{args['ALMOND_VERSION']}-scala-{args['SCALA_VERSION']}-")


def test_kubespawner_starts_the_scala_server_on_that_image(monkeypatch):
    """The profile list as the real KubeSpawner (jupyterhub-kubespawner, as in the hub image) loads it when a
    trainee picks Scala: the server's image is the project's."""
    import kubespawner.spawner
    from kubespawner import KubeSpawner

    # No cluster here: the spawner's Kubernetes client is not needed to load a profile.
    monkeypatch.setattr(kubespawner.spawner, "load_config", lambda **_: None)
    monkeypatch.setattr(kubespawner.spawner, "shared_client", lambda *_: None)
    preview = run_preview("baremetal", {"hub.imageRegistry": REGISTRY})
    spawner = KubeSpawner(_mock=True, profile_list=profiles(preview))
    spawner.user_options = {"profile": "scala"}
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(spawner.load_user_options())
    finally:
        loop.close()
    assert spawner.image == f"{REGISTRY}/{SCALA_SPARK_IMAGE}"
    assert (spawner.cpu_limit, spawner.mem_limit) == (2, 4 * 2**30)


def test_the_stack_example_names_the_image_at_the_programs_tag(gke):
    """Pulumi.gke.yaml spells the profiles out; its Scala image must be the one the workflow pushes (the program
    refuses another tag, so a changed images/scala-spark asks for the new one here)."""
    image = scala_profile(gke)["kubespawner_override"]["image"]
    assert image.endswith(f"/{SCALA_SPARK_IMAGE}")


def test_a_scala_spark_image_at_another_tag_is_refused():
    profile = {"name": "scala", "displayName": "Scala", "image": f"{REGISTRY}/scala-spark:0.14.5-scala-2.13.18-000000000000",
               "cpuGuarantee": "0.5", "cpuLimit": "2", "memoryGuarantee": "2Gi", "memoryLimit": "4Gi"}
    message = config_error("baremetal", {"hub.profiles": [profile]})
    assert message == (f'Invalid configuration mltraining:hub.profiles[0].image = "{profile["image"]}": expected '
                       f"{REGISTRY}/scala-spark:{SCALA_SPARK_TAG}, the tag under which .github/workflows/images.yml "
                       "pushes images/scala-spark (built on the Spark cluster's image)")
    message = config_error("baremetal", {"hub.profiles": [{**profile, "image": SCALA_SPARK_IMAGE}]})
    assert f"expected REGISTRY/scala-spark:{SCALA_SPARK_TAG}," in message


@pytest.mark.parametrize("registry", ["ghcr.io/ml-training-example/", "ml-training-example", "GHCR.io/x",
                                      f"ghcr.io/x/scala-spark:{SCALA_SPARK_TAG}"])
def test_a_registry_is_a_host_and_a_path(registry):
    message = config_error("baremetal", {"hub.imageRegistry": registry})
    assert message == (f'Invalid configuration mltraining:hub.imageRegistry = "{registry}": expected a registry host '
                       "and path such as ghcr.io/my-org, without an image name or tag")


# --- the tag, derived in one place ------------------------------------------------------------------------------


def test_the_tag_changes_with_the_dockerfile_and_what_it_copies_only(tmp_path):
    context = tmp_path / "scala-spark"
    shutil.copytree(SCALA_SPARK_CONTEXT, context, ignore=shutil.ignore_patterns("__pycache__"))
    assert settings.image_tag(context) == SCALA_SPARK_TAG
    (context / "__pycache__").mkdir()
    (context / "__pycache__" / "spark_kernel.cpython-311.pyc").write_bytes(b"x")
    (context / "notes.txt").write_text("not in the image")
    assert settings.image_tag(context) == SCALA_SPARK_TAG
    with (context / "spark_kernel.py").open("a") as script:
        script.write("\n")
    changed = settings.image_tag(context)
    assert changed != SCALA_SPARK_TAG
    (context / "Dockerfile").write_text(dockerfile().replace("ARG SPARK_VERSION=", "ARG SPARK_VERSION=9"))
    assert settings.image_tag(context) not in (SCALA_SPARK_TAG, changed)


# --- the workflow -------------------------------------------------------------------------------------------------


def workflow() -> dict:
    document = yaml.safe_load(WORKFLOW.read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as true
    return document


def job() -> dict:
    [only] = workflow()["jobs"].values()
    return only


def step(**match) -> dict:
    [found] = [s for s in job()["steps"] if all(str(s.get(key, "")).startswith(value) for key, value in match.items())]
    return found


def test_the_workflow_validates_against_githubs_schema():
    """check-jsonschema's vendored GitHub workflow schema (pinned in requirements-test.txt)."""
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                             str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def image_step_outputs(image: str, tmp_path: Path) -> dict[str, str]:
    """The workflow's own step for one image of its matrix, run here."""
    output = tmp_path / f"output-{image}"
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GITHUB_OUTPUT": str(output),
                   "IMAGE_REGISTRY": REGISTRY, "IMAGE": image}
    subprocess.run(["bash", "-e", "-c", step(id="image")["run"]], cwd=ROOT, env=environment, check=True, timeout=120)
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_workflow_and_the_program_agree_on_the_images(tmp_path):
    """The workflow takes each tag from the program, and pushes where the program pulls: every folder of images/
    is in its matrix."""
    assert job()["strategy"]["matrix"]["image"] == sorted(p.name for p in (ROOT / "images").iterdir()) == \
        sorted(settings.IMAGE_TAGS) == ["k8s-hub", "scala-spark"]
    assert job()["env"]["IMAGE"] == "${{ matrix.image }}"
    preview = run_preview("baremetal", {"hub.imageRegistry": REGISTRY})
    scala = image_step_outputs("scala-spark", tmp_path)
    assert scala["tag"] == SCALA_SPARK_TAG
    assert scala["ref"] == scala_profile(preview)["kubespawner_override"]["image"]
    assert scala["host"] == "ghcr.io"
    hub = image_step_outputs("k8s-hub", tmp_path)
    image = preview.releases()["jupyterhub"].inputs["values"]["hub"]["image"]
    assert hub["ref"] == f"{image['name']}:{image['tag']}"
    build = step(uses="docker/build-push-action@")["with"]
    assert build["context"] == "images/${{ matrix.image }}"
    assert build["tags"] == "${{ steps.image.outputs.ref }}"
    assert job()["env"]["IMAGE_REGISTRY"] == "${{ vars.IMAGE_REGISTRY }}"


HUB_DOCKERFILE = ROOT / "images" / "k8s-hub" / "Dockerfile"


def test_the_hub_image_is_the_charts_with_jupyterhubs_security_release():
    """z2jh 4.4.0's hub image runs JupyterHub 5.5.0 (its images/hub/requirements.txt); 5.5.4 carries the fixes of
    GHSA-c4gm-pwx9-9w8j and GHSA-hx46-2cv3-mh6g. The wheel is pinned by hash, its dependencies are 5.5.0's."""
    text = HUB_DOCKERFILE.read_text()
    assert re.search(r"^FROM quay\.io/jupyterhub/k8s-hub:4\.4\.0$", text, re.M)
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    assert args["JUPYTERHUB_VERSION"] == "5.5.4" and re.fullmatch(r"[0-9a-f]{64}", args["JUPYTERHUB_WHEEL_SHA256"])
    assert "--require-hashes" in text and "pip check" in text and text.rstrip().endswith("USER 1000")
    result = subprocess.run([str(BIN / "hadolint"), "--no-color", str(HUB_DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert settings.IMAGE_TAGS["k8s-hub"].startswith("jupyterhub-5.5.4-")


def test_the_workflow_pushes_from_main_only_and_never_moves_a_tag():
    document = workflow()
    for event in ("push", "pull_request"):
        assert "images/**" in document["on"][event]["paths"]
    assert document["on"]["push"]["branches"] == ["main"]
    assert job()["env"]["PUSH"] == "${{ github.event_name != 'pull_request' && vars.IMAGE_REGISTRY != '' }}"
    assert step(uses="docker/build-push-action@")["with"]["push"] == "${{ env.PUSH == 'true' }}"
    login, pushed = step(uses="docker/login-action@"), step(id="pushed")
    assert login["if"] == pushed["if"] == "env.PUSH == 'true'"
    assert 'docker manifest inspect "$REF"' in pushed["run"]
    for built in (step(uses="docker/setup-buildx-action@"), step(uses="docker/build-push-action@")):
        assert built["if"] == "steps.pushed.outputs.exists != 'true'"
    assert job()["permissions"] == {"contents": "read", "packages": "write"}


def test_every_action_is_pinned_to_a_major_version():
    for action in (s["uses"] for s in job()["steps"] if "uses" in s):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", action), action


def test_the_registry_setting_names_the_workflows_variable():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["hub.imageRegistry"]
    assert declared["default"] == ""
    assert "IMAGE_REGISTRY" in declared["description"] and ".github/workflows/images.yml" in declared["description"]


# --- the kernel's JVM settings on Spark 4.2.0, for real ---------------------------------------------------------

JAVAC = shutil.which("javac")

# As almond loads a notebook's classes: compiled into a directory of their own (its --output-directory), read by a
# class loader over that directory, which is on no executor's class path.
DRIVER = """
import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;

public class Driver {
  public static void main(String[] args) throws Exception {
    File classes = new File(System.getProperty("spark.repl.class.outputDir"));
    ClassLoader notebook = new URLClassLoader(new URL[] {classes.toURI().toURL()}, Driver.class.getClassLoader());
    Thread.currentThread().setContextClassLoader(notebook);
    @SuppressWarnings("unchecked")
    Function<Integer, Integer> square =
        (Function<Integer, Integer>) notebook.loadClass("Square").getDeclaredConstructor().newInstance();
    JavaSparkContext spark = new JavaSparkContext(new SparkConf());  // spark.* system properties only
    List<Integer> numbers = new ArrayList<>();
    for (int n = 1; n <= 10; n++) numbers.add(n);
    int total = 0;
    for (int squared : spark.parallelize(numbers, 2).map(square).collect()) total += squared;
    System.out.println("total=" + total);
    System.out.println("executor.memory=" + spark.getConf().get("spark.executor.memory"));
    System.out.println("repl.class.uri=" + spark.getConf().get("spark.repl.class.uri"));
    System.out.println("app.name=" + spark.getConf().get("spark.app.name"));
    spark.stop();
  }
}
"""
SQUARE = """
public class Square implements org.apache.spark.api.java.function.Function<Integer, Integer> {
  public Integer call(Integer n) { return n * n; }
}
"""


@pytest.mark.skipif(PYSPARK_HOME is None or JAVA is None or JAVAC is None,
                    reason="needs pyspark (requirements-test.txt), java and javac")
def test_executors_load_the_notebooks_classes_with_the_kernels_jvm_settings(tmp_path, gke):
    """The JVM half of the kernel's command (spark_kernel.kernel_command: spark-submit's driver options from Spark's
    own launcher, the hub's PYSPARK_SUBMIT_ARGS as system properties, spark.repl.class.outputDir) on Spark 4.2.0,
    with a driver in place of almond: a class compiled into that directory alone runs in executors of other JVMs
    (local-cluster), which fetch it from the driver. What almond adds (compiling cells into the directory) is
    checked by the image's smoke test, where it is built."""
    jars = f"{PYSPARK_HOME}/jars/*"
    assert not (PYSPARK_HOME / "work").exists()
    driver, classes, almond = tmp_path / "driver", tmp_path / "classes", tmp_path / "almond"
    for folder in (driver, classes, almond):
        folder.mkdir()
    (driver / "Driver.java").write_text(DRIVER)
    (classes / "Square.java").write_text(SQUARE)
    subprocess.run([JAVAC, "-nowarn", "-cp", jars, "-d", str(driver), str(driver / "Driver.java")], check=True)
    subprocess.run([JAVAC, "-nowarn", "-cp", jars, "-d", str(classes), str(classes / "Square.java")], check=True)

    # local-cluster's worker keeps its applications in SPARK_HOME/work (Worker.createWorkDir, apache/spark
    # core/.../deploy/worker/Worker.scala): a SPARK_HOME of links to pyspark's, so that the package stays clean.
    spark_home = tmp_path / "spark"
    spark_home.mkdir()
    for entry in ("bin", "jars", "python"):
        (spark_home / entry).symlink_to(PYSPARK_HOME / entry)
    environment = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_SCALA_VERSION": SPARK_SCALA_VERSION,
                   "SPARK_LOCAL_IP": "127.0.0.1", "JUPYTERHUB_USER": "ann"}
    environment.pop("JAVA_HOME", None)
    launcher = subprocess.run(kernel.launcher_command(spark_home), env=environment, check=True,
                              stdout=subprocess.PIPE, timeout=120).stdout
    (almond / kernel.DRIVER_JAVA_OPTIONS).write_text("\n".join(kernel.driver_java_options(launcher)) + "\n")
    (almond / kernel.EXECUTOR_JARS).write_text("")
    # The program's settings, on a local cluster sized for this machine instead of the class's.
    arguments = notebook_environment(gke)["PYSPARK_SUBMIT_ARGS"]
    master = shlex.split(arguments)[1]
    environment["PYSPARK_SUBMIT_ARGS"] = arguments.replace(master, "local-cluster[1,1,2048]")
    command, ignored = kernel.kernel_command(environment, [], str(classes), almond_home=almond,
                                             spark_home=spark_home)
    assert ignored == []
    jvm = command[:command.index("-jar")]
    process = subprocess.Popen([*jvm, "-cp", f"{driver}{os.pathsep}{jars}", "Driver"], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
    assert process.returncode == 0, output[-5000:]
    assert "total=385" in output, output[-5000:]
    assert re.search(r"^repl\.class\.uri=spark://[^/]+:\d+/classes$", output, re.M), output[-5000:]
    assert f"executor.memory={kernel.submit_settings(arguments)[0]['spark.executor.memory']}" in output
    assert "app.name=scala-ann" in output
    assert (spark_home / "work").is_dir() and not (PYSPARK_HOME / "work").exists()


def test_the_tests_run_the_hub_images_jupyterhub():
    """The real hub of tests/hub/test_hub_engine.py and the traits of tests/hub/test_hub_traits.py are the image's."""
    import jupyterhub

    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", HUB_DOCKERFILE.read_text(), re.M))
    assert jupyterhub.__version__ == args["JUPYTERHUB_VERSION"]
