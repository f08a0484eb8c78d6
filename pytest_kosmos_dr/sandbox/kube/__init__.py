"""The sandbox's DR Kubernetes cluster: a local API server kubectl and the official client accept."""

from .component import DRClusterComponent

__all__ = ["DRClusterComponent"]
