"""The notebook images: the Spark cluster's and the python-spark profile's image, and the project's own images
(images/) with the tags derived from their folders."""

import hashlib
import re
from pathlib import Path

# The image of the python-spark profile. The Spark cluster runs it too, so that the driver in the notebook and
# the executors have the same Spark and Python versions (components/services/spark.py lists what each tag ships).
PYSPARK_IMAGE = "quay.io/jupyter/pyspark-notebook:2026-08-08"
# Spark 4 is built for Scala 2.13 only, so the Scala profile runs an almond kernel for Scala 2.13.
SPARK_SCALA_VERSION = "2.13"
# The Scala profile's image is the project's own (images/scala-spark/Dockerfile): almond's Scala 2.13 kernel,
# installed outside the home folder on PYSPARK_IMAGE, so that a notebook's Spark driver has the cluster's Spark and
# Java. .github/workflows/images.yml builds it and pushes it as <registry>/scala-spark:SCALA_SPARK_TAG to the
# registry in its repository variable IMAGE_REGISTRY, which hub.imageRegistry names here.
SCALA_SPARK_CONTEXT = Path(__file__).resolve().parent.parent / "images" / "scala-spark"
SCALA_SPARK_REPOSITORY = "scala-spark"


# The project's images (folders under images/) and what their tags say before the hash: the versions their
# Dockerfiles install (ARG lines).
IMAGE_TAG_VERSIONS = {"scala-spark": "{ALMOND_VERSION}-scala-{SCALA_VERSION}", "k8s-hub": "jupyterhub-{JUPYTERHUB_VERSION}"}


def image_tag(context: Path) -> str:
    """The tag of the image built from a folder, derived from the folder alone (the program and the workflow that
    pushes the image both take it from here): the versions its Dockerfile installs (IMAGE_TAG_VERSIONS), and 12
    hex digits of the sha256 of the Dockerfile and the files it copies. A changed image gets a new tag, so a tag
    never names two images."""
    dockerfile = (context / "Dockerfile").read_text()
    versions = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.M))
    copied = sorted({source for line in re.findall(r"^COPY (?!--from=)(.+)$", dockerfile, re.M)
                     for source in [word for word in line.split() if not word.startswith("--")][:-1]})
    digest = hashlib.sha256()
    for name in ["Dockerfile", *copied]:
        digest.update(name.encode() + b"\0" + (context / name).read_bytes() + b"\0")
    return f"{IMAGE_TAG_VERSIONS[context.name].format(**versions)}-{digest.hexdigest()[:12]}"


IMAGES = SCALA_SPARK_CONTEXT.parent
IMAGE_TAGS = {name: image_tag(IMAGES / name) for name in IMAGE_TAG_VERSIONS}
SCALA_SPARK_TAG = IMAGE_TAGS["scala-spark"]
# The hub's image (images/k8s-hub): the chart's hub image with JupyterHub's security release, in hub.imageRegistry.
HUB_IMAGE_REPOSITORY = "k8s-hub"
# Relative to hub.imageRegistry, which _default_profiles puts in front.
SCALA_SPARK_IMAGE = f"{SCALA_SPARK_REPOSITORY}:{SCALA_SPARK_TAG}"

def image_repository(image: str) -> str:
    return image.split("@")[0].rsplit(":", 1)[0]
