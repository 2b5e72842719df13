"""A trainee's notebook for tests/services/test_spark_engine.py: one SparkSession, created as a notebook creates it.

    python tests/spark_notebook.py NAME

runs with the notebook environment the hub gives every server (PYSPARK_SUBMIT_ARGS, SPARK_MASTER_URL, ...) and
nothing else Spark-related: the session takes no configuration of its own. It reads one JSON command a line on
stdin and answers each with one JSON line on stdout (Spark's own output goes to stderr).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

# Spark's defaults that components/services/spark.py overrides, read from the running Spark's own config entries.
DEFAULTS = {
    "org.apache.spark.internal.config.package$": ("DYN_ALLOCATION_MAX_EXECUTORS", "DYN_ALLOCATION_EXECUTOR_IDLE_TIMEOUT",
                                                  "DYN_ALLOCATION_SHUFFLE_TRACKING_TIMEOUT",
                                                  "DYN_ALLOCATION_CACHED_EXECUTOR_IDLE_TIMEOUT"),
    "org.apache.spark.internal.config.Worker$": ("WORKER_CLEANUP_INTERVAL", "APP_DATA_RETENTION"),
}


def spark_defaults(spark: SparkSession) -> dict[str, str]:
    jvm = spark.sparkContext._jvm
    found = {}
    for holder, names in DEFAULTS.items():
        module = jvm.java.lang.Class.forName(holder).getField("MODULE$").get(None)
        for name in names:
            entry = getattr(module, name)()
            found[entry.key()] = entry.defaultValueString()
    found["spark.port.maxRetries"] = str(jvm.org.apache.spark.util.Utils.portMaxRetries(jvm.org.apache.spark.SparkConf(False)))
    return found


def main(name: str) -> None:
    spark = SparkSession.builder.appName(name).getOrCreate()
    sc = spark.sparkContext
    kept = []  # what a notebook keeps in its variables: results whose shuffle output stays registered
    busy: list[threading.Thread] = []

    def reply(**message) -> None:
        print(json.dumps(message), flush=True)

    for line in sys.stdin:
        command = json.loads(line)
        action = command["do"]
        if action == "session":
            conf = dict(sc.getConf().getAll())
            reply(app=sc.applicationId, master=sc.master, ui=sc.uiWebUrl, defaultParallelism=sc.defaultParallelism,
                  conf=conf, defaults=spark_defaults(spark), python=sc.pythonExec, version=spark.version)
        elif action == "udf_shuffle":
            # A Python UDF on the executors, then a shuffle (groupBy), as the README's first example.
            digit = F.udf(lambda n: int(str(n)[-1]), "int")
            counts = spark.range(100_000).select(digit("id").alias("digit")).groupBy("digit").count()
            kept.append(counts)
            rows = counts.collect()
            python = spark.range(4).select(F.udf(lambda _: sys.executable, "string")("id").alias("p")).distinct().collect()
            reply(counts={str(r["digit"]): r["count"] for r in rows}, executor_python=[r["p"] for r in python])
        elif action == "busy":
            # sc.defaultParallelism tasks that each wait for a file: the session wants every core it may get.
            flag, deadline = command["flag"], command["seconds"]

            def wait(index):
                end = time.monotonic() + deadline
                while not os.path.exists(flag) and time.monotonic() < end:
                    time.sleep(0.2)
                return index

            def job():
                rdd = sc.parallelize(range(sc.defaultParallelism), sc.defaultParallelism).map(wait)
                kept.append(rdd)
                busy_result.append(sorted(rdd.collect()))

            busy_result: list = []
            thread = threading.Thread(target=job, daemon=True)
            thread.result = busy_result  # type: ignore[attr-defined]
            thread.start()
            busy.append(thread)
            reply(started=True, tasks=sc.defaultParallelism)
        elif action == "join":
            thread = busy.pop()
            thread.join(command["seconds"])
            reply(done=not thread.is_alive(), result=thread.result[0] if thread.result else None)  # type: ignore[attr-defined]
        elif action == "stop":
            spark.stop()
            reply(stopped=True)
            return


if __name__ == "__main__":
    main(sys.argv[1])
