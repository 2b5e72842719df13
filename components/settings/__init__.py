"""The stack configuration, read once into frozen, typed settings and validated before any resource exists.

Each concern declares its settings as pydantic models (types, defaults, descriptions, rules) beside its components:
components/cluster/settings.py, storage/settings.py, services/settings.py, hub/settings.py and hub/auth_settings.py;
types holds the constrained types they share, and loader reads the engine's configuration into the models. They are
the one source of Pulumi.yaml's config block, which python -m tools.configdoc writes.
"""

from components.hub.auth_settings import AuthSettings
from components.cluster.settings import ClusterSettings, GkeSettings, MaintenanceExclusion, MaintenanceWindow, NodePoolSettings
from components.hub.settings import (DEFAULT_PROFILES, WEEKDAYS, ClassSession, HubSettings, Profile, TeamGroup,
                                     servers_per_user_node)
from components.images import (HUB_IMAGE_REPOSITORY, IMAGE_TAGS, PYSPARK_IMAGE, SCALA_SPARK_CONTEXT, SCALA_SPARK_IMAGE,
                               SCALA_SPARK_REPOSITORY, SCALA_SPARK_TAG, SPARK_SCALA_VERSION, image_repository, image_tag)
from components.settings.loader import PROJECT_FILE, Settings, load
from components.services.settings import (SPARK_DAEMON_MEMORY, HdfsSettings, KafkaSettings, MonitoringSettings,
                                          ServicesSettings, SparkSettings, VoraSettings, spark_session_cap)
from components.storage.settings import FILESTORE_ZONAL_TIERS, Dataset, Material, StorageSettings
from components.settings.types import ConfigError, MissingSecret, quantity_bytes, set_secret_command
