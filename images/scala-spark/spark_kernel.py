"""almond's Scala kernel with Spark: what the image's kernel spec runs, and what its build records and tests.

    python spark_kernel.py run ARGS...       kernel.json: start almond (ARGS: --connection-file FILE)
    python spark_kernel.py prepare           image build: record the driver's JVM options and the executors' jars
    python spark_kernel.py smoke-test ...    image build: run Spark jobs from the installed kernel

`run` starts almond's launcher (a coursier bootstrap of sh.almond:scala-kernel, see the Dockerfile) in a JVM with:

- the JVM options that spark-submit gives a driver: Spark 4 runs on Java 17+ only with its module options
  (`--add-opens=...`, SPARK-36796), which `prepare` asks Spark's own launcher for (org.apache.spark.launcher.Main,
  the class behind bin/spark-class and bin/spark-submit), so that they are those of the Spark in $SPARK_HOME;
- this server's Spark settings as `spark.*` system properties, which every `new SparkConf()` (so
  `SparkSession.builder()`) reads: the --master and --conf settings of PYSPARK_SUBMIT_ARGS, which the hub gives
  every server for PySpark (components/services/spark.py, submit_args);
- spark.repl.class.outputDir: the directory almond compiles the notebook's cells to (its --output-directory;
  almond-sh/almond v0.14.5, modules/scala/scala-kernel/src/main/scala/almond/Options.scala). SparkContext serves
  that directory on the driver's RPC port and sets spark.repl.class.uri, from which executors load the classes of
  functions and closures defined in the notebook (apache/spark, core/.../SparkContext.scala: "If running the REPL,
  register the repl's output dir with the file server"), as spark-shell's are;
- spark.jars: the jars of almond's "user" class loader (scala-kernel-api and its dependencies), which those classes
  refer to, so that executors can load them too (alexarchambault/ammonite-spark, tag v0.14.0-RC8,
  AmmoniteSparkSessionBuilder.scala sends the same class path as spark.jars).

Spark's own jars ($SPARK_HOME/jars) are on the session's class path (almond's --extra-class-path), without Spark's
Scala library, reflect and compiler: the kernel has its own of the same version (2.13.18, the Dockerfile checks),
as ammonite-spark also keeps the kernel's ("Loose attempt at using the scala JARs already loaded in Ammonite"). So
`import org.apache.spark.sql.SparkSession` works at once, without downloading Spark.

Standard library only: the image runs it with its own Python, the tests (tests/test_images.py) with theirs.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Mapping, Optional, Sequence

ALMOND_HOME = Path("/opt/almond")
LAUNCHER = "almond"  # the coursier bootstrap of almond's kernel (Dockerfile)
DRIVER_JAVA_OPTIONS = "driver-java-options"
EXECUTOR_JARS = "executor-jars"

SPARK_SUBMIT = "org.apache.spark.deploy.SparkSubmit"
# Spark's Scala jars, which the kernel's own Scala 2.13 replaces on the session class path.
SPARK_SCALA_JARS = re.compile(r"^scala-(library|reflect|compiler)-2\.13\.[0-9]+\.jar$")
# The class loader that almond's launcher shares with the notebook's code: `coursier bootstrap -i user -I
# user:sh.almond:scala-kernel-api_...` (almond-sh/almond v0.14.5, scripts/install-kernels.sh).
USER_LOADER = "user"
# Where coursier's bootstrap keeps the class path of each loader (coursier/coursier v2.1.24,
# modules/launcher/src/main/scala/coursier/launcher/BootstrapGenerator.scala, and ClassLoaders.java of
# modules/bootstrap-launcher: bootstrap-jar-urls-N and bootstrap-loader-name-N for the shared loaders).
BOOTSTRAP_RESOURCES = "coursier/bootstrap/launcher/"


# --- build time: the driver's JVM options ------------------------------------------------------------------


def launcher_command(spark_home: Path) -> list[str]:
    """What bin/spark-class runs to get spark-submit's command: Spark's launcher, printing the java command of a
    SparkSubmit driver (here for a resource that is never run)."""
    return ["java", "-cp", f"{spark_home}/jars/*", "org.apache.spark.launcher.Main",
            SPARK_SUBMIT, "--class", "unused", "spark-internal"]


def driver_java_options(launcher_output: bytes) -> list[str]:
    """The JVM options in the command that Spark's launcher prints (NUL-separated on Unix: [env K=V...] java
    [options] -cp CLASSPATH options... org.apache.spark.deploy.SparkSubmit ARGS), less -Xmx: the kernel's heap
    follows spark.driver.memory when it is set (kernel_command), as spark-submit's does."""
    command = [part for part in launcher_output.decode().split("\0") if part]
    if command and command[0] == "env":
        command = command[1:]
        while command and "=" in command[0] and not command[0].startswith("-"):
            command = command[1:]
    if "-cp" not in command or SPARK_SUBMIT not in command:
        raise ValueError(f"not a spark-submit command from Spark's launcher: {command[:3]}")
    classpath = command.index("-cp")
    options = command[1:classpath] + command[classpath + 2:command.index(SPARK_SUBMIT)]
    options = [option for option in options if not option.startswith("-Xmx")]
    if not any(option.startswith("--add-opens=") for option in options):
        raise ValueError(f"no --add-opens options in spark-submit's driver command: {options}")
    return options


# --- build time: the jars that executors need for the notebook's classes --------------------------------------


def _escape(text: str) -> str:
    """coursier's escaping of a cache path (CachePath.escape, coursier/coursier v2.1.24)."""
    return "".join(f"%{ord(c):02X}" if ord(c) > 128 or c in " %$&+,:;=?@<>#" else c for c in text)


def cache_file(url: str, cache: Path) -> Path:
    """Where coursier's cache keeps a URL's file (CachePath.localFile, coursier/coursier v2.1.24,
    modules/paths/src/main/java/coursier/paths/CachePath.java): <cache>/<protocol>/<host and path>."""
    protocol, colon, rest = url.partition(":")
    if not colon or not rest.startswith("/") or protocol not in ("http", "https"):
        raise ValueError(f"not an http(s) URL that coursier caches: {url}")
    rest = rest[3:] if rest.startswith("///") else rest[1:]
    return cache / _escape(f"{protocol}/{rest.lstrip('/')}")


def shared_loader_jars(launcher: Path, cache: Path, loader: str = USER_LOADER) -> list[Path]:
    """The cached jars of one shared class loader of a coursier bootstrap launcher, in class path order."""
    with zipfile.ZipFile(launcher) as jar:
        names = set(jar.namelist())
        index = 1
        while f"{BOOTSTRAP_RESOURCES}bootstrap-jar-urls-{index}" in names:
            name_entry = f"{BOOTSTRAP_RESOURCES}bootstrap-loader-name-{index}"
            if name_entry in names and jar.read(name_entry).decode() == loader:
                resources = f"{BOOTSTRAP_RESOURCES}bootstrap-jar-resources-{index}"
                if resources in names and jar.read(resources).strip():
                    raise ValueError(f"the {loader} loader of {launcher} embeds jars: build it without --standalone")
                urls = jar.read(f"{BOOTSTRAP_RESOURCES}bootstrap-jar-urls-{index}").decode().split("\n")
                return [cache_file(url, cache) for url in urls if url]
            index += 1
    raise ValueError(f"{launcher} has no shared class loader named {loader}")


def executor_jars(jars: Sequence[Path]) -> list[Path]:
    """What executors get of the kernel's user class path: not sources, nor the Scala library (theirs is Spark's)."""
    return [jar for jar in jars if not jar.name.endswith("-sources.jar") and not SPARK_SCALA_JARS.match(jar.name)]


def prepare(almond_home: Path, spark_home: Path, cache: Path, scala_binary_version: str) -> None:
    # bin/spark-class sets SPARK_SCALA_VERSION (bin/load-spark-env.sh); without it, the launcher of a binary
    # distribution looks for a source tree's build directories and fails.
    environment = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_SCALA_VERSION": scala_binary_version}
    for variable in ("SPARK_SUBMIT_OPTS", "SPARK_CONF_DIR", "SPARK_PRINT_LAUNCH_COMMAND"):
        environment.pop(variable, None)
    output = subprocess.run(launcher_command(spark_home), env=environment, check=True, stdout=subprocess.PIPE).stdout
    options = driver_java_options(output)
    (almond_home / DRIVER_JAVA_OPTIONS).write_text("".join(f"{option}\n" for option in options))
    jars = executor_jars(shared_loader_jars(almond_home / LAUNCHER, cache))
    missing = [str(jar) for jar in jars if not jar.is_file()]
    if not jars or missing:
        raise SystemExit(f"the kernel's user class path is not in the coursier cache {cache}: {missing or 'empty'}")
    (almond_home / EXECUTOR_JARS).write_text("".join(f"{jar}\n" for jar in jars))
    print(f"{len(options)} driver JVM options, {len(jars)} jars for executors", file=sys.stderr)


# --- run time: the kernel's command --------------------------------------------------------------------------


def submit_settings(arguments: str) -> tuple[dict[str, str], list[str]]:
    """The Spark settings in PYSPARK_SUBMIT_ARGS (spark-submit's options, then pyspark-shell), and what of it has
    no system property equivalent here (returned to be reported)."""
    tokens = shlex.split(arguments)
    settings: dict[str, str] = {}
    ignored: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        option, equals, inline = token.partition("=")
        if option in ("--master", "--conf") and (equals or index + 1 < len(tokens)):
            value = inline if equals else tokens[index + 1]
            index += 1 if equals else 2
            if option == "--master":
                settings["spark.master"] = value
                continue
            key, separator, setting = value.partition("=")
            if separator and key.startswith("spark."):
                settings[key] = setting
            else:
                ignored.append(f"--conf {value}")
            continue
        if not (token == "pyspark-shell" and index == len(tokens) - 1):
            ignored.append(token)
        index += 1
    return settings, ignored


def session_class_path(spark_home: Path) -> list[Path]:
    """Spark's jars for the notebook's session, without its Scala ones (the kernel's Scala 2.13 serves)."""
    return sorted(jar for jar in (spark_home / "jars").glob("*.jar") if not SPARK_SCALA_JARS.match(jar.name))


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line]


def kernel_command(environment: Mapping[str, str], arguments: Sequence[str], classes: str,
                   almond_home: Path = ALMOND_HOME, spark_home: Optional[Path] = None) -> tuple[list[str], list[str]]:
    """The java command that runs almond for a kernel spec's arguments, and what of PYSPARK_SUBMIT_ARGS it ignored.

    classes is the directory almond writes the notebook's classes to (and SparkContext serves to executors)."""
    spark_home = spark_home or Path(environment.get("SPARK_HOME", "/usr/local/spark"))
    java = f"{environment['JAVA_HOME']}/bin/java" if environment.get("JAVA_HOME") else "java"
    settings, ignored = submit_settings(environment.get("PYSPARK_SUBMIT_ARGS", ""))
    jars = [jar for jar in settings.pop("spark.jars", "").split(",") if jar] + _lines(almond_home / EXECUTOR_JARS)
    settings.update({"spark.repl.class.outputDir": classes, "spark.jars": ",".join(jars)})
    # SparkSession.builder() names an unnamed application with a random UUID, a bare SparkContext refuses it: this
    # name tells a trainer on the master's web UI whose session it is (JupyterHub sets JUPYTERHUB_USER).
    settings.setdefault("spark.app.name", f"scala-{environment.get('JUPYTERHUB_USER') or 'notebook'}")
    heap = [f"-Xmx{settings['spark.driver.memory']}"] if settings.get("spark.driver.memory") else []
    command = [
        java, *_lines(almond_home / DRIVER_JAVA_OPTIONS), *heap,
        *(f"-D{key}={value}" for key, value in settings.items()),
        "-jar", str(almond_home / LAUNCHER),
        "--output-directory", classes,
        "--extra-class-path", os.pathsep.join(str(jar) for jar in session_class_path(spark_home)),
        *arguments,
    ]
    return command, ignored


def run(arguments: Sequence[str]) -> None:
    # On the pod's local disk, gone with the server; one directory per kernel, as almond's own default.
    classes = tempfile.mkdtemp(prefix="almond-classes-")
    command, ignored = kernel_command(os.environ, arguments, classes, almond_home=ALMOND_HOME)
    if ignored:
        print(f"spark_kernel.py: PYSPARK_SUBMIT_ARGS options not applied to the Scala kernel: {' '.join(ignored)}",
              file=sys.stderr)
    os.execvp(command[0], command)


# --- build time: the smoke test ----------------------------------------------------------------------------------


def smoke_test_cells(master: str, spark_version: str) -> list[str]:
    """Notebook cells that need everything above: Spark on the session class path, the module options, a function
    defined in the notebook that executors (other JVMs) load from the driver."""
    return [
        "import org.apache.spark.sql.SparkSession\n"
        f'val spark = SparkSession.builder().master("{master}").appName("scala-spark smoke test").getOrCreate()',
        "def square(n: Int): Int = n * n",
        "val total = spark.sparkContext.parallelize(1 to 10, 2).map(square).sum()\n"
        "assert(total == 385.0, total)",
        'assert(spark.range(1000).selectExpr("sum(id)").first().getLong(0) == 499500L)',
        f'assert(org.apache.spark.SPARK_VERSION == "{spark_version}", org.apache.spark.SPARK_VERSION)\n'
        'println("spark.repl.class.uri " + spark.sparkContext.getConf.get("spark.repl.class.uri"))\n'
        'println("java " + sys.props("java.version"))',
        "spark.stop()",
    ]


def smoke_test(kernel: str, master: str, spark_version: str, timeout: int) -> None:
    from jupyter_client.manager import start_new_kernel  # in the image (Jupyter Server's), not needed elsewhere

    manager, client = start_new_kernel(kernel_name=kernel, startup_timeout=timeout)
    try:
        for code in smoke_test_cells(master, spark_version):
            print(f">>> {code}", flush=True)

            def show(message: dict) -> None:
                content = message["content"]
                if message["msg_type"] == "stream":
                    print(content["text"], end="", flush=True)
                elif message["msg_type"] in ("execute_result", "display_data"):
                    print(content["data"].get("text/plain", ""), flush=True)
                elif message["msg_type"] == "error":
                    print("\n".join(content["traceback"]), flush=True)

            reply = client.execute_interactive(code, timeout=timeout, output_hook=show)
            if reply["content"]["status"] != "ok":
                raise SystemExit(f"smoke test failed in the {kernel} kernel: {reply['content'].get('ename')}")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    print("smoke test passed", flush=True)


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="spark_kernel.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the kernel (almond's arguments follow)")
    prepare_parser = commands.add_parser("prepare", help="record the driver's JVM options and the executors' jars")
    prepare_parser.add_argument("--scala-binary-version", required=True)
    smoke = commands.add_parser("smoke-test", help="run Spark jobs from the installed kernel")
    smoke.add_argument("--kernel", required=True)
    smoke.add_argument("--master", required=True)
    smoke.add_argument("--spark-version", required=True)
    smoke.add_argument("--timeout", type=int, default=600)
    if argv[:1] == ["run"]:
        run(argv[1:])  # almond's options, passed on untouched
        return
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(ALMOND_HOME, Path(os.environ["SPARK_HOME"]), Path(os.environ["COURSIER_CACHE"]),
                args.scala_binary_version)
    else:
        smoke_test(args.kernel, args.master, args.spark_version, args.timeout)


if __name__ == "__main__":
    main(sys.argv[1:])
