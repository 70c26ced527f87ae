"""Provider type tokens the rules match, one constant each.

tests/test_policy_tokens.py checks that every token (and every top-level property a rule reads)
still exists in the installed provider SDKs, so a renamed type cannot silently switch a rule off.
"""
from __future__ import annotations

# Kubernetes (pulumi-kubernetes); inputs arrive in Kubernetes' own camelCase field names.
K8S_DEPLOYMENT = "kubernetes:apps/v1:Deployment"
K8S_STATEFULSET = "kubernetes:apps/v1:StatefulSet"
K8S_REPLICASET = "kubernetes:apps/v1:ReplicaSet"
K8S_DAEMONSET = "kubernetes:apps/v1:DaemonSet"
K8S_JOB = "kubernetes:batch/v1:Job"
K8S_CRONJOB = "kubernetes:batch/v1:CronJob"
K8S_POD = "kubernetes:core/v1:Pod"
K8S_HPA_V2 = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
K8S_HPA_V1 = "kubernetes:autoscaling/v1:HorizontalPodAutoscaler"
K8S_PDB = "kubernetes:policy/v1:PodDisruptionBudget"
K8S_SERVICE = "kubernetes:core/v1:Service"
K8S_INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
K8S_NAMESPACE = "kubernetes:core/v1:Namespace"

K8S_REPLICATED = (K8S_DEPLOYMENT, K8S_STATEFULSET, K8S_REPLICASET)
"""Workloads that run N interchangeable instances: the ones that must spread and scale."""
K8S_LONG_RUNNING = (*K8S_REPLICATED, K8S_DAEMONSET, K8S_POD)
"""Workloads that serve traffic and so need probes."""
K8S_POD_BEARING = (*K8S_LONG_RUNNING, K8S_JOB, K8S_CRONJOB)
K8S_HPAS = (K8S_HPA_V2, K8S_HPA_V1)

# Istio's custom resources (the CRDs in components/kubernetes/crds/). Custom resources arrive as
# `kubernetes:<group>/<version>:<Kind>` with inputs apiVersion, kind, metadata and spec; they are
# not in the pulumi-kubernetes SDK, so tests/test_policy_tokens.py checks them against the CRDs'
# schemas instead (every version the CRD serves is matched, so an older apiVersion is judged too).
K8S_PEER_AUTHENTICATION = "kubernetes:security.istio.io/v1:PeerAuthentication"
K8S_PEER_AUTHENTICATION_V1BETA1 = "kubernetes:security.istio.io/v1beta1:PeerAuthentication"
K8S_DESTINATION_RULE = "kubernetes:networking.istio.io/v1:DestinationRule"
K8S_DESTINATION_RULE_V1BETA1 = "kubernetes:networking.istio.io/v1beta1:DestinationRule"
K8S_DESTINATION_RULE_V1ALPHA3 = "kubernetes:networking.istio.io/v1alpha3:DestinationRule"
K8S_PEER_AUTHENTICATIONS = (K8S_PEER_AUTHENTICATION, K8S_PEER_AUTHENTICATION_V1BETA1)
K8S_DESTINATION_RULES = (K8S_DESTINATION_RULE, K8S_DESTINATION_RULE_V1BETA1, K8S_DESTINATION_RULE_V1ALPHA3)
CRD_TOKENS = (*K8S_PEER_AUTHENTICATIONS, *K8S_DESTINATION_RULES)
"""Custom-resource tokens a rule may list in its TOKENS (checked against CRD schemas, not the SDK)."""

# AWS (pulumi-aws). The alb/* tokens are the same resources under their older module name.
AWS_LB = "aws:lb/loadBalancer:LoadBalancer"
AWS_ALB = "aws:alb/loadBalancer:LoadBalancer"
AWS_LISTENER = "aws:lb/listener:Listener"
AWS_ALB_LISTENER = "aws:alb/listener:Listener"
AWS_LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
AWS_ALB_LISTENER_RULE = "aws:alb/listenerRule:ListenerRule"
AWS_TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
AWS_ALB_TARGET_GROUP = "aws:alb/targetGroup:TargetGroup"
AWS_ECS_SERVICE = "aws:ecs/service:Service"
AWS_ECS_TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
AWS_SCALABLE_TARGET = "aws:appautoscaling/target:Target"
AWS_ASG = "aws:autoscaling/group:Group"
AWS_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AWS_INSTANCE = "aws:ec2/instance:Instance"
AWS_WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
AWS_METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

AWS_LBS = (AWS_LB, AWS_ALB)
AWS_LISTENERS = (AWS_LISTENER, AWS_ALB_LISTENER)
AWS_LISTENER_RULES = (AWS_LISTENER_RULE, AWS_ALB_LISTENER_RULE)
AWS_TARGET_GROUPS = (AWS_TARGET_GROUP, AWS_ALB_TARGET_GROUP)

# Azure (pulumi-azure-native).
AZ_MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
AZ_AGENT_POOL = "azure-native:containerservice:AgentPool"
AZ_APP_GATEWAY = "azure-native:network:ApplicationGateway"
AZ_LOCK_AT_RESOURCE = "azure-native:authorization:ManagementLockAtResourceLevel"
AZ_LOCK_BY_SCOPE = "azure-native:authorization:ManagementLockByScope"
AZ_LOCKS = (AZ_LOCK_AT_RESOURCE, AZ_LOCK_BY_SCOPE)

# Docker (pulumi-docker): the docker target's containers and the images they are pulled from. Labels
# arrive as a list of {label, value}.
DOCKER_CONTAINER = "docker:index/container:Container"
DOCKER_REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"

# GCP (pulumi-gcp).
GCP_CLUSTER = "gcp:container/cluster:Cluster"
GCP_NODE_POOL = "gcp:container/nodePool:NodePool"
GCP_BACKEND_SERVICE = "gcp:compute/backendService:BackendService"
GCP_REGION_BACKEND_SERVICE = "gcp:compute/regionBackendService:RegionBackendService"
GCP_TARGET_HTTP_PROXY = "gcp:compute/targetHttpProxy:TargetHttpProxy"
GCP_TARGET_HTTPS_PROXY = "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
GCP_URL_MAP = "gcp:compute/uRLMap:URLMap"
GCP_BACKEND_SERVICES = (GCP_BACKEND_SERVICE, GCP_REGION_BACKEND_SERVICE)
