"""The kinds a Kubernetes API server serves without any CRD, and their scope (pure data).

`plan` works without a cluster: it needs to know which kinds exist before any CRD is installed, and which
are namespaced. This is the discovery of kube-apiserver v1.36 with its default feature gates, as the
local control plane serves it; tests/cluster/test_builtin_kinds.py compares it with the live discovery.
"""

from __future__ import annotations

# apiVersion -> {kind: namespaced}
BUILTIN: dict[str, dict[str, bool]] = {
    "v1": {
        "Binding": True, "ComponentStatus": False, "ConfigMap": True, "Endpoints": True, "Event": True,
        "LimitRange": True, "Namespace": False, "Node": False, "PersistentVolume": False,
        "PersistentVolumeClaim": True, "Pod": True, "PodTemplate": True, "ReplicationController": True,
        "ResourceQuota": True, "Secret": True, "Service": True, "ServiceAccount": True,
    },
    "admissionregistration.k8s.io/v1": {
        "MutatingAdmissionPolicy": False, "MutatingAdmissionPolicyBinding": False,
        "MutatingWebhookConfiguration": False, "ValidatingAdmissionPolicy": False,
        "ValidatingAdmissionPolicyBinding": False, "ValidatingWebhookConfiguration": False,
    },
    "apiextensions.k8s.io/v1": {"CustomResourceDefinition": False},
    "apiregistration.k8s.io/v1": {"APIService": False},
    "apps/v1": {"ControllerRevision": True, "DaemonSet": True, "Deployment": True, "ReplicaSet": True,
                "StatefulSet": True},
    "authentication.k8s.io/v1": {"SelfSubjectReview": False, "TokenReview": False},
    "authorization.k8s.io/v1": {"LocalSubjectAccessReview": True, "SelfSubjectAccessReview": False,
                                "SelfSubjectRulesReview": False, "SubjectAccessReview": False},
    "autoscaling/v1": {"HorizontalPodAutoscaler": True},
    "autoscaling/v2": {"HorizontalPodAutoscaler": True},
    "batch/v1": {"CronJob": True, "Job": True},
    "certificates.k8s.io/v1": {"CertificateSigningRequest": False},
    "coordination.k8s.io/v1": {"Lease": True},
    "discovery.k8s.io/v1": {"EndpointSlice": True},
    "events.k8s.io/v1": {"Event": True},
    "flowcontrol.apiserver.k8s.io/v1": {"FlowSchema": False, "PriorityLevelConfiguration": False},
    "networking.k8s.io/v1": {"IPAddress": False, "Ingress": True, "IngressClass": False, "NetworkPolicy": True,
                             "ServiceCIDR": False},
    "node.k8s.io/v1": {"RuntimeClass": False},
    "policy/v1": {"PodDisruptionBudget": True},
    "rbac.authorization.k8s.io/v1": {"ClusterRole": False, "ClusterRoleBinding": False, "Role": True,
                                     "RoleBinding": True},
    "resource.k8s.io/v1": {"DeviceClass": False, "ResourceClaim": True, "ResourceClaimTemplate": True,
                           "ResourceSlice": False},
    "scheduling.k8s.io/v1": {"PriorityClass": False},
    "storage.k8s.io/v1": {"CSIDriver": False, "CSINode": False, "CSIStorageCapacity": True, "StorageClass": False,
                          "VolumeAttachment": False, "VolumeAttributesClass": False},
}


def is_builtin(api_version: str, kind: str) -> bool:
    return kind in BUILTIN.get(api_version, {})


def namespaced(api_version: str, kind: str) -> bool | None:
    """True/False for a built-in kind, None for any other (a CRD in the set, or the cluster, decides)."""
    return BUILTIN.get(api_version, {}).get(kind)
