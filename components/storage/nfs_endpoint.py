"""Where the NFS export is: the typed output that flows from the server into everything that mounts it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class NfsEndpoint:
    """An NFS export. For the in-cluster server, server is the Service's cluster IP: the kubelet mounts
    NFS volumes from the node, where cluster DNS names do not resolve."""

    server: pulumi.Output[str]
    path: pulumi.Output[str]

    def once(self, ready: pulumi.Output) -> NfsEndpoint:
        """The same export, known only once `ready` is: whoever mounts it waits for that."""
        return NfsEndpoint(
            server=pulumi.Output.all(self.server, ready).apply(lambda parts: parts[0]),
            path=pulumi.Output.all(self.path, ready).apply(lambda parts: parts[0]),
        )

    def volume_source(self) -> dict:
        """A pod volume's `nfs` source for the export."""
        return {"server": self.server, "path": self.path}
