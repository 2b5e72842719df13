"""What ./tools/smoke runs in a trainee's kernels (tools/smoke.py): the code of each check, by kernel language.

A check's code raises (Python, Scala) or stops (R) with one line saying what is wrong, and prints its result last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from components.hub.hub import PUBLIC_MOUNT, SHARED_MOUNT

METADATA_SERVER = ("169.254.169.254", 80)  # every cloud's, GCE's metadata.google.internal included
PROBE_SECONDS = 5  # a connection not made in this time counts as unreachable
# The Kafka client of README "Kafka", from PyPI (needs hub.allowInternet).
KAFKA_CLIENT = "confluent-kafka==2.16.1"


class NoNeighbour(Exception):
    """The isolation check without a neighbour server to probe."""


@dataclass(frozen=True)
class Context:
    """What a check needs to know: the run's id, the seeded files, the neighbour server's address."""

    run: str
    datasets: tuple[str, ...]
    neighbour: Optional[tuple[str, int]] = None


def _py(value: Any) -> str:
    return json.dumps(value)  # a JSON string or list is a Python literal


# The folders as a server has them: the personal folder is the home, public and shared are mounted in it.
PUBLIC, SHARED = (Path(mount).name for mount in (PUBLIC_MOUNT, SHARED_MOUNT))


def folders_python(context: Context) -> str:
    probe = f".smoke-{context.run}"
    return f"""
import pathlib
home = pathlib.Path.home()
personal, shared, public = home / {_py(probe)}, home / {_py(SHARED)} / {_py(probe)}, home / {_py(PUBLIC)} / {_py(probe)}
personal.write_text("personal")
assert personal.read_text() == "personal", "the personal folder gave back something else"
personal.unlink()
shared.write_text("shared")
shared.unlink()
try:
    public.write_text("public")
except OSError:
    pass
else:
    public.unlink()
    raise AssertionError("the public folder is writable")
for name in {_py(list(context.datasets))}:
    with open(home / {_py(PUBLIC)} / name, "rb") as seeded:
        assert seeded.read(1), f"the seeded file public/{{name}} is empty"
print("personal, shared and public as expected;", {len(context.datasets)}, "seeded file(s) read")
"""


def unreachable_python(address: tuple[str, int], what: str) -> str:
    return f"""
import socket
probe = socket.socket()
probe.settimeout({PROBE_SECONDS})
try:
    probe.connect(({_py(address[0])}, {address[1]}))
except OSError as refused:
    print({_py(what)}, "unreachable:", refused)
else:
    raise AssertionError({_py(f"{what} at {address[0]}:{address[1]} is reachable")})
finally:
    probe.close()
"""


def metadata_python(context: Context) -> str:
    return unreachable_python(METADATA_SERVER, "the cloud metadata server")


def isolation_python(context: Context) -> str:
    if context.neighbour is None:
        raise NoNeighbour("no neighbour server to probe")
    return unreachable_python(context.neighbour, "another user's server")


# The server's address as the neighbour's own kernel sees it. JUPYTERHUB_SERVICE_URL is
# http://<Spawner.ip>:<Spawner.port><prefix> (jupyterhub 5.5.4, jupyterhub/spawner.py, Spawner.get_env), which in a pod
# is http://0.0.0.0:8888/... (kubespawner 7.0.0, kubespawner/spawner.py: ip "0.0.0.0", port 8888): every interface,
# so the host is the pod's IP, which the pod's host name resolves to (the kubelet's /etc/hosts). A local spawner
# names the one address it listens on.
ADDRESS_PYTHON = """
import json, os, socket, urllib.parse
url = urllib.parse.urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
host = url.hostname if url.hostname not in ("0.0.0.0", "::", "", None) else socket.gethostbyname(socket.gethostname())
print(json.dumps([host, url.port]))
"""


def spark_python(context: Context) -> str:
    # README "Spark": a session needs no configuration. The UDF runs Python on the executors.
    return """
import os
from pyspark.sql import SparkSession
from pyspark.sql.functions import udf
spark = SparkSession.builder.appName("smoke-test").getOrCreate()
try:
    assert spark.sparkContext.master == os.environ["SPARK_MASTER_URL"], f"master {spark.sparkContext.master}"
    square = udf(lambda n: n * n, "long")
    total = spark.range(1000).select(square("id").alias("square")).groupBy().sum("square").collect()[0][0]
    assert total == sum(n * n for n in range(1000)), f"sum of squares {total}"
    print("sum of squares on the cluster:", total)
finally:
    spark.stop()
"""


def hdfs_python(context: Context) -> str:
    return f"""
import os
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("smoke-test-hdfs").getOrCreate()
path = f"{{os.environ['HDFS_URL']}}/user/{{os.environ['JUPYTERHUB_USER']}}/smoke-{context.run}"
hadoop = spark._jvm.org.apache.hadoop.fs.Path(path)
try:
    spark.range(100).write.parquet(path)
    count = spark.read.parquet(path).count()
    assert count == 100, f"read back {{count}} rows of 100"
    print("wrote and read", path)
finally:
    hadoop.getFileSystem(spark._jsc.hadoopConfiguration()).delete(hadoop, True)
    spark.stop()
"""


def kafka_python(context: Context) -> str:
    return f"""
import os, subprocess, sys
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", {_py(KAFKA_CLIENT)}], check=True)
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
servers, topic = os.environ["KAFKA_BOOTSTRAP_SERVERS"], "smoke-{context.run}"
admin = AdminClient({{"bootstrap.servers": servers}})
admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(60)
try:
    producer = Producer({{"bootstrap.servers": servers}})
    producer.produce(topic, value=b"smoke {context.run}")
    assert producer.flush(60) == 0, "the message was not delivered"
    consumer = Consumer({{"bootstrap.servers": servers, "group.id": topic, "auto.offset.reset": "earliest"}})
    consumer.subscribe([topic])
    message = None
    for _ in range(12):
        message = consumer.poll(5.0)
        if message is not None and not message.error():
            break
    consumer.close()
    assert message is not None and message.value() == b"smoke {context.run}", "nothing consumed"
    print("produced and consumed on", topic)
finally:
    admin.delete_topics([topic])[topic].result(60)
"""


def _r(value: str) -> str:
    return json.dumps(value)  # a JSON string is an R string literal


def dataset_r(context: Context) -> str:
    if not context.datasets:
        return f'stopifnot(dir.exists(path.expand({_r(f"~/{PUBLIC}")}))); print(list.files(path.expand({_r(f"~/{PUBLIC}")})))'
    return "\n".join(
        f'lines <- readLines(path.expand({_r(f"~/{PUBLIC}/{name}")}), n = 1, warn = FALSE); '
        f'if (length(lines) != 1) stop("the seeded file public/{name} is empty")'
        for name in context.datasets) + f'\ncat({len(context.datasets)}, "seeded file(s) read\\n")'


def spark_scala(context: Context) -> str:
    # README "What a trainee finds", Scala: the session's defaults are the server's PYSPARK_SUBMIT_ARGS.
    return """
import org.apache.spark.sql.SparkSession
val smokeSpark = SparkSession.builder().master(sys.env("SPARK_MASTER_URL")).appName("smoke-test-scala").getOrCreate()
val smokeTotal = try smokeSpark.sparkContext.parallelize(1 to 1000).map(n => n.toLong * n).sum() finally smokeSpark.stop()
if (smokeTotal != 332833500.0) throw new Exception(s"sum of squares $smokeTotal")
println(s"sum of squares on the cluster: $smokeTotal")
"""


@dataclass(frozen=True)
class Check:
    name: str
    language: str  # the kernelspec's language, lower case
    code: Callable[[Context], str]
    seconds: float
    service: str = ""  # the data service it needs (traineeEnvironment.services), "" for none
    spark_image: bool = False  # only on a profile with the Spark cluster's image


CHECKS = (
    Check("folders", "python", folders_python, 60),
    Check("metadata", "python", metadata_python, 30),
    Check("isolation", "python", isolation_python, 30),
    Check("spark", "python", spark_python, 600, service="spark", spark_image=True),
    Check("hdfs", "python", hdfs_python, 600, service="hdfs", spark_image=True),
    Check("kafka", "python", kafka_python, 600, service="kafka", spark_image=True),
    Check("dataset", "r", dataset_r, 120),
    Check("spark", "scala", spark_scala, 900, service="spark", spark_image=True),
)
CHECK_NAMES = sorted({check.name for check in CHECKS})
# The Python kernel of every notebook image (ipykernel's kernelspec name).
PYTHON_KERNEL = "python3"
# Trivial code each kernel runs first, so that starting it is a step of its own.
HELLO = {"python": "print('ready')", "r": "cat('ready\\n')", "scala": 'println("ready")'}
