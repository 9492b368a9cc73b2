using Tugboat.ApiServer.Registry.Strategies;

namespace Tugboat.ApiServer.Registry;

/// <summary>The built-in kinds this server serves, with upstream's names, short names, categories and subresources.</summary>
internal static class Builtins
{
    /// <param name="notReadySeconds">tolerationSeconds pods get for node.kubernetes.io/not-ready:NoExecute unless they say otherwise.</param>
    /// <param name="unreachableSeconds">The same for node.kubernetes.io/unreachable:NoExecute.</param>
    public static Catalog Create(int notReadySeconds = 300, int unreachableSeconds = 300, System.Net.IPNetwork? serviceRange = null) => new(Core(notReadySeconds, unreachableSeconds, serviceRange).Concat(StorageKinds.All()).Concat(RbacKinds.All()).Concat(PolicyKinds.All()).Concat(CoreExtraKinds.All()).Concat(ClusterKinds.All()).Concat(Reviews.Kinds()).Concat(Metrics.Kinds()));

    private static IEnumerable<ResourceType> Core(int notReadySeconds, int unreachableSeconds, System.Net.IPNetwork? serviceRange)
    {
        var events = new ResourceType { Group = "", Version = "v1", Kind = "Event", Plural = "events", Namespaced = true, ShortNames = ["ev"], Strategy = new EventStrategy() };
        return
        [
        new() { Group = "", Version = "v1", Kind = "Namespace", Plural = "namespaces", Namespaced = false, ShortNames = ["ns"], HasStatus = true, Strategy = new NamespaceStrategy() },
        new() { Group = "", Version = "v1", Kind = "Pod", Plural = "pods", Namespaced = true, ShortNames = ["po"], Categories = ["all"], HasStatus = true, Strategy = new PodStrategy(notReadySeconds, unreachableSeconds) },
        new() { Group = "", Version = "v1", Kind = "Node", Plural = "nodes", Namespaced = false, ShortNames = ["no"], HasStatus = true, Strategy = new NodeStrategy() },
        new() { Group = "", Version = "v1", Kind = "Service", Plural = "services", Namespaced = true, ShortNames = ["svc"], Categories = ["all"], HasStatus = true, Strategy = new ServiceStrategy(serviceRange) },
        new() { Group = "", Version = "v1", Kind = "Endpoints", Plural = "endpoints", Namespaced = true, ShortNames = ["ep"], Strategy = new EndpointsStrategy() },
        new() { Group = "", Version = "v1", Kind = "ConfigMap", Plural = "configmaps", Namespaced = true, ShortNames = ["cm"], Strategy = new ConfigMapStrategy() },
        new() { Group = "", Version = "v1", Kind = "Secret", Plural = "secrets", Namespaced = true, Strategy = new SecretStrategy() },
        new() { Group = "", Version = "v1", Kind = "ServiceAccount", Plural = "serviceaccounts", Namespaced = true, ShortNames = ["sa"], Strategy = new ServiceAccountStrategy() },
        events,
        // Newer event recorders write events.k8s.io/v1; both versions are the same objects.
        new() { Group = "events.k8s.io", Version = "v1", Kind = "Event", Plural = "events", Namespaced = true, ShortNames = ["ev"], Strategy = events.Strategy, StoredAs = events, Converter = new EventsV1Converter() },
        new() { Group = "apps", Version = "v1", Kind = "Deployment", Plural = "deployments", Namespaced = true, ShortNames = ["deploy"], Categories = ["all"], HasStatus = true, HasScale = true, Strategy = new DeploymentStrategy() },
        new() { Group = "apps", Version = "v1", Kind = "ReplicaSet", Plural = "replicasets", Namespaced = true, ShortNames = ["rs"], Categories = ["all"], HasStatus = true, HasScale = true, Strategy = new ReplicaSetStrategy() },
        new() { Group = "apps", Version = "v1", Kind = "StatefulSet", Plural = "statefulsets", Namespaced = true, ShortNames = ["sts"], Categories = ["all"], HasStatus = true, HasScale = true, Strategy = new StatefulSetStrategy() },
        new() { Group = "apps", Version = "v1", Kind = "DaemonSet", Plural = "daemonsets", Namespaced = true, ShortNames = ["ds"], Categories = ["all"], HasStatus = true, Strategy = new DaemonSetStrategy() },
        new() { Group = "apps", Version = "v1", Kind = "ControllerRevision", Plural = "controllerrevisions", Namespaced = true, Strategy = new ControllerRevisionStrategy() },
        new() { Group = "batch", Version = "v1", Kind = "Job", Plural = "jobs", Namespaced = true, Categories = ["all"], HasStatus = true, Strategy = new JobStrategy() },
        new() { Group = "batch", Version = "v1", Kind = "CronJob", Plural = "cronjobs", Namespaced = true, ShortNames = ["cj"], Categories = ["all"], HasStatus = true, Strategy = new CronJobStrategy() },
        new() { Group = "coordination.k8s.io", Version = "v1", Kind = "Lease", Plural = "leases", Namespaced = true, Strategy = new LeaseStrategy() },
        new() { Group = "discovery.k8s.io", Version = "v1", Kind = "EndpointSlice", Plural = "endpointslices", Namespaced = true, Strategy = new EndpointSliceStrategy() },
        new() { Group = "networking.k8s.io", Version = "v1", Kind = "Ingress", Plural = "ingresses", Namespaced = true, ShortNames = ["ing"], HasStatus = true, Strategy = new IngressStrategy() },
        new() { Group = "apiextensions.k8s.io", Version = "v1", Kind = "CustomResourceDefinition", Plural = "customresourcedefinitions", Namespaced = false, ShortNames = ["crd", "crds"], Categories = ["api-extensions"], HasStatus = true, Strategy = new CustomResourceDefinitionStrategy() },
        ];
    }
}
