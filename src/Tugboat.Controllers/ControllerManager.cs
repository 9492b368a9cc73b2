using Microsoft.Extensions.Logging;
using Tugboat.Client;
using Tugboat.Controllers.Deployment;
using Tugboat.Controllers.ReplicaSet;
using Tugboat.Controllers.Runtime;

namespace Tugboat.Controllers;

/// <summary>
/// The controller manager: every control loop and the scheduler, clients of the API server through
/// <see cref="ApiClient"/> (through the API server's in-process transport when embedded in <c>tug server</c>, otherwise
/// over HTTPS) sharing one informer per collection.
/// </summary>
public static class ControllerManager
{
    /// <summary>
    /// Runs the loops while this process holds the <c>kube-system/tug-controller-manager</c> Lease, so that several
    /// servers sharing a datastore never act twice; a process that loses the Lease stops its loops and competes again.
    /// </summary>
    /// <param name="nodeMonitorGracePeriod">How long a node may go without a heartbeat before it is marked Unknown (upstream: 40 s).</param>
    /// <param name="terminatedPodThreshold">Finished pods kept before the oldest are deleted (upstream: 12,500; 0 keeps all).</param>
    /// <param name="transport">How to reach the API server with the kubeconfig's credentials, when not over the network.</param>
    public static async Task RunAsync(string kubeconfig, ILoggerFactory loggers, CancellationToken ct, TimeSpan? nodeMonitorGracePeriod = null, int terminatedPodThreshold = 12_500, Func<ClientConfig, HttpMessageHandler>? transport = null)
    {
        var config = ClientConfig.FromKubeconfig(kubeconfig);
        ApiClient Client(string userAgent) => transport is null ? new ApiClient(config, userAgent) : new ApiClient(transport(config), config.Server, userAgent);
        using var client = Client("tug-controller-manager");
        var election = new LeaderElection(client, "kube-system", "tug-controller-manager", $"{Environment.MachineName}_{Guid.NewGuid():N}");
        await election.RunAsync(term => RunLoopsAsync(() => Client("default-scheduler"), client, loggers, nodeMonitorGracePeriod, terminatedPodThreshold, term), ct).ConfigureAwait(false);
    }

    /// <summary>One term of leadership: fresh caches and queues, every loop, until <paramref name="ct"/> ends the term.</summary>
    private static async Task RunLoopsAsync(Func<ApiClient> newSchedulerClient, ApiClient client, ILoggerFactory loggers, TimeSpan? nodeMonitorGracePeriod, int terminatedPodThreshold, CancellationToken ct)
    {
        using var schedulerClient = newSchedulerClient();
        var recorders = new List<EventRecorder>();
        EventRecorder Recorder(string component)
        {
            var recorder = new EventRecorder(client, component);
            recorders.Add(recorder);
            return recorder;
        }
        // One cache per collection for every loop and the scheduler: each pod is held once, not once per controller.
        var informers = new InformerFactory(client);
        var scheduler = new Tugboat.Scheduler.Scheduler(schedulerClient, informers, loggers.CreateLogger<Tugboat.Scheduler.Scheduler>());
        using var setQueue = new WorkQueue<string>();
        using var deploymentQueue = new WorkQueue<string>();
        var replicaSets = new ReplicaSetController(client, informers, setQueue, loggers.CreateLogger<ReplicaSetController>()) { Events = Recorder("replicaset-controller") };
        var deployments = new DeploymentController(client, informers, deploymentQueue) { Events = Recorder("deployment-controller") };
        using var endpointsQueue = new WorkQueue<string>();
        var endpoints = new Endpoints.EndpointsController(client, informers, endpointsQueue);
        using var jobQueue = new WorkQueue<string>();
        var jobs = new Job.JobController(client, informers, jobQueue) { Events = Recorder("job-controller") };
        using var cronQueue = new WorkQueue<string>();
        var cronJobs = new CronJob.CronJobController(client, informers, cronQueue) { Events = Recorder("cronjob-controller") };
        using var gcQueue = new WorkQueue<string>();
        var collector = new GarbageCollector.GarbageCollector(client, informers, gcQueue);
        using var daemonQueue = new WorkQueue<string>();
        var daemons = new DaemonSet.DaemonSetController(client, informers, daemonQueue) { Events = Recorder("daemonset-controller") };
        using var statefulQueue = new WorkQueue<string>();
        var statefulSets = new StatefulSet.StatefulSetController(client, informers, statefulQueue) { Events = Recorder("statefulset-controller") };
        using var nodeQueue = new WorkQueue<string>();
        var nodes = new NodeLifecycle.NodeLifecycleController(client, informers, nodeQueue, nodeMonitorGracePeriod ?? TimeSpan.FromSeconds(40)) { Events = Recorder("node-controller") };
        using var podGcQueue = new WorkQueue<string>();
        var podGc = new PodGC.PodGCController(client, informers, podGcQueue, terminatedPodThreshold);
        using var ttlQueue = new WorkQueue<string>();
        var ttl = new TtlAfterFinished.TtlAfterFinishedController(client, informers, ttlQueue);
        using var loadBalancerQueue = new WorkQueue<string>();
        var loadBalancers = new ServiceLoadBalancer.ServiceLoadBalancerController(client, informers, loadBalancerQueue);
        using var disruptionQueue = new WorkQueue<string>();
        var disruption = new Disruption.DisruptionController(client, informers, disruptionQueue) { Events = Recorder("controllermanager") };
        using var namespaceQueue = new WorkQueue<string>();
        var namespaces = new NamespaceLifecycle.NamespaceController(client, informers, namespaceQueue);
        using var accountQueue = new WorkQueue<string>();
        var accounts = new ServiceAccount.ServiceAccountController(client, informers, accountQueue);
        var loops = new[]
        {
            new ControllerLoop("namespace", namespaces, namespaces.Informers, namespaceQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("serviceaccount", accounts, accounts.Informers, accountQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("disruption", disruption, disruption.Informers, disruptionQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("service-lb", loadBalancers, loadBalancers.Informers, loadBalancerQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("ttlafterfinished", ttl, ttl.Informers, ttlQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("podgc", podGc, podGc.Informers, podGcQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("nodelifecycle", nodes, nodes.Informers, nodeQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("daemonset", daemons, daemons.Informers, daemonQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("statefulset", statefulSets, statefulSets.Informers, statefulQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("replicaset", replicaSets, replicaSets.Informers, setQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("deployment", deployments, deployments.Informers, deploymentQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("endpoints", endpoints, endpoints.Informers, endpointsQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("job", jobs, jobs.Informers, jobQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("cronjob", cronJobs, cronJobs.Informers, cronQueue, loggers.CreateLogger<ControllerLoop>()),
            new ControllerLoop("garbagecollector", collector, collector.Informers, gcQueue, loggers.CreateLogger<ControllerLoop>()),
        };
        await Task.WhenAll(loops.Select(l => l.RunAsync(ct)).Append(scheduler.RunAsync(ct)).Concat(recorders.Select(r => r.RunAsync(ct)))).ConfigureAwait(false);
    }
}
