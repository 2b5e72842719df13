"""The training environment's guardrails:  pulumi preview --stack gke --policy-pack policy

Every policy is mandatory: a violation stops `pulumi up`. The checks are in guardrails.py.
"""

from pulumi_policy import PolicyPack

from guardrails_pack import ENFORCEMENT, PACK_NAME, policies, show_markers

show_markers()
PolicyPack(name=PACK_NAME, enforcement_level=ENFORCEMENT, policies=policies())
