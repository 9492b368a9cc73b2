using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <param name="notReadySeconds">tolerationSeconds of the default not-ready:NoExecute toleration (upstream's --default-not-ready-toleration-seconds).</param>
/// <param name="unreachableSeconds">tolerationSeconds of the default unreachable:NoExecute toleration (--default-unreachable-toleration-seconds).</param>
internal sealed class PodStrategy(int notReadySeconds = 300, int unreachableSeconds = 300) : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Ready", "The aggregate readiness state of this pod for accepting traffic.", Ready),
        Column.Text("Status", "The aggregate status of the containers in this pod.", Status),
        Column.Text("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", Restarts),
        Column.Age(),
        Column.Text("IP", "The IP address assigned to this pod.", o => o.Str("status", "podIP") ?? Cells.None, 1),
        Column.Text("Node", "The node that this pod is assigned to.", o => NonEmpty(o.Str("spec", "nodeName")), 1),
        Column.Text("Nominated Node", "The node that this pod is nominated to run on, if any.", o => NonEmpty(o.Str("status", "nominatedNodeName")), 1),
        Column.Text("Readiness Gates", "The readiness gates of this pod.", ReadinessGates, 1),
    ];

    public override IReadOnlyCollection<string> SelectableFields { get; } =
        ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"];

    public override string? GetField(JsonObject obj, string field) => field switch
    {
        "spec.hostNetwork" => (obj.Bool("spec", "hostNetwork") ?? false) ? "true" : "false",
        "status.podIPs" => obj.Arr("status", "podIPs").Objects().FirstOrDefault()?.Str("ip"),
        _ => obj.Str(field.Split('.')),
    };

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx)
    {
        obj["status"] = new JsonObject { ["phase"] = "Pending" };
        // Admission: ServiceAccount, Priority and DefaultTolerationSeconds, as upstream's default plugins do.
        var spec = obj.Ensure("spec");
        spec.Default("serviceAccountName", spec.Str("serviceAccount") ?? "default");
        spec.Default("serviceAccount", spec.Str("serviceAccountName"));
        spec.Default("priority", 0);
        spec.Default("preemptionPolicy", "PreemptLowerPriority");
        AddDefaultTolerations(spec);
    }

    /// <summary>
    /// An update that leaves out what admission set on create keeps it, as upstream: Priority admission carries
    /// priority and preemptionPolicy over, DefaultTolerationSeconds adds its tolerations on updates too; the service
    /// account named at creation stays when the update names none (upstream's ServiceAccount admission also mounts a
    /// token volume there, which makes such a replace fail; Tugboat mounts none yet).
    /// </summary>
    public override void PrepareForUpdate(JsonObject obj, JsonObject old)
    {
        if (obj["spec"] is not JsonObject spec || old["spec"] is not JsonObject before)
        {
            return;
        }
        foreach (var field in new[] { "priority", "preemptionPolicy", "serviceAccountName", "serviceAccount" })
        {
            if (spec[field] is null && before[field] is { } kept)
            {
                spec[field] = kept.DeepClone();
            }
        }
        AddDefaultTolerations(spec);
    }

    private void AddDefaultTolerations(JsonObject spec)
    {
        var tolerations = spec.Arr("tolerations") ?? new JsonArray();
        foreach (var taint in new[] { "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable" })
        {
            if (!tolerations.Objects().Any(t => t.Str("key") == taint && t.Str("effect") is null or "NoExecute"))
            {
                tolerations.Add(new JsonObject { ["key"] = taint, ["operator"] = "Exists", ["effect"] = "NoExecute", ["tolerationSeconds"] = taint == "node.kubernetes.io/not-ready" ? notReadySeconds : unreachableSeconds });
            }
        }
        spec["tolerations"] = tolerations;
    }

    /// <summary>Upstream's built-in priority classes, which exist in every cluster.</summary>
    private static readonly Dictionary<string, int> SystemPriorities = new(StringComparer.Ordinal)
    {
        ["system-cluster-critical"] = 2_000_000_000,
        ["system-node-critical"] = 2_000_001_000,
    };

    /// <summary>
    /// Upstream's Priority admission on create: a pod naming a PriorityClass gets its value as spec.priority and its
    /// preemptionPolicy; naming a class that does not exist is forbidden; a pod naming none gets the global default
    /// class (its name too), or priority 0 when there is none.
    /// </summary>
    public override async Task AllocateAsync(JsonObject obj, JsonObject? old, RequestContext ctx)
    {
        if (old is not null)
        {
            return;
        }
        await AdmitRuntimeClassAsync(obj, ctx).ConfigureAwait(false);
        var spec = obj.Ensure("spec");
        if (obj.Str("spec", "priorityClassName") is not { Length: > 0 } className)
        {
            if (await DefaultPriorityClassAsync(ctx.Registry).ConfigureAwait(false) is { } globalDefault)
            {
                spec["priorityClassName"] = globalDefault.Name;
                spec["priority"] = globalDefault.Value;
                spec["preemptionPolicy"] = globalDefault.PreemptionPolicy ?? "PreemptLowerPriority";
            }
            return;
        }
        if (SystemPriorities.TryGetValue(className, out var system))
        {
            spec["priority"] = system;
            return;
        }
        var classes = ctx.Registry.Catalog.Get("scheduling.k8s.io", "PriorityClass");
        var entry = await ctx.Registry.GetAsync(classes, null, className).ConfigureAwait(false);
        if (entry is null)
        {
            throw ApiException.Forbidden("pods", obj.Str("metadata", "name") ?? string.Empty, $"pods \"{obj.Str("metadata", "name")}\" is forbidden: no PriorityClass with name {className} was found");
        }
        var priorityClass = ctx.Registry.Derived(entry, PriorityClassInfo.Of);
        spec["priority"] = priorityClass.Value;
        if (priorityClass.PreemptionPolicy is { } policy)
        {
            spec["preemptionPolicy"] = policy;
        }
    }

    /// <summary>
    /// Upstream's RuntimeClass admission on create: a pod naming a RuntimeClass that does not exist is refused, and the
    /// class's pod overhead becomes the pod's (a pod giving another overhead is refused).
    /// </summary>
    private static async Task AdmitRuntimeClassAsync(JsonObject obj, RequestContext ctx)
    {
        if (obj.Str("spec", "runtimeClassName") is not { Length: > 0 } className)
        {
            return;
        }
        var name = obj.Str("metadata", "name") ?? string.Empty;
        var entry = await ctx.Registry.GetAsync(ctx.Registry.Catalog.Get("node.k8s.io", "RuntimeClass"), null, className).ConfigureAwait(false)
            ?? throw ApiException.Forbidden("pods", name, $"pods \"{name}\" is forbidden: pod rejected: RuntimeClass \"{className}\" not found");
        if (ObjectCodec.Decode(entry).Obj("overhead", "podFixed") is { } overhead)
        {
            if (obj.Obj("spec", "overhead") is { } given && !JsonNode.DeepEquals(given, overhead))
            {
                throw ApiException.Forbidden("pods", name, $"pods \"{name}\" is forbidden: pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead");
            }
            obj.Ensure("spec")["overhead"] = overhead.DeepClone();
        }
    }

    /// <summary>What pod admission reads of a PriorityClass.</summary>
    internal sealed record PriorityClassInfo(string? Name, long Value, string? PreemptionPolicy, bool GlobalDefault)
    {
        public static PriorityClassInfo Of(JsonObject c) => new(c.Str("metadata", "name"), c.Long("value") ?? 0, c.Str("preemptionPolicy"), c.Bool("globalDefault") == true);
    }

    /// <summary>The PriorityClass marked globalDefault (the lowest-valued one, as upstream, should several be), or null.</summary>
    internal static async Task<PriorityClassInfo?> DefaultPriorityClassAsync(Registry registry)
    {
        var classes = registry.Catalog.Get("scheduling.k8s.io", "PriorityClass");
        var all = await registry.Store.ListAsync(classes.KeyPrefix).ConfigureAwait(false);
        PriorityClassInfo? found = null;
        foreach (var entry in all.Items)
        {
            var c = registry.Derived(entry, PriorityClassInfo.Of);
            if (c.GlobalDefault && (found is null || c.Value < found.Value))
            {
                found = c;
            }
        }
        return found;
    }

    public override void Default(JsonObject obj)
    {
        DefaultSpec(obj.Ensure("spec"));
        DefaultSubresource(obj);
    }

    /// <summary>
    /// Upstream's SetDefaults_Pod (pods only, not templates, and on every write): service links on, and a container's
    /// requests default to its limits; then the pod spec's defaults.
    /// </summary>
    private static void DefaultSpec(JsonObject spec)
    {
        spec.Default("enableServiceLinks", true);
        foreach (var c in spec.Arr("initContainers").Objects().Concat(spec.Arr("containers").Objects()))
        {
            if (c.Obj("resources", "limits") is { Count: > 0 } limits)
            {
                var requests = c.Obj("resources")!.Ensure("requests");
                foreach (var (resource, quantity) in limits)
                {
                    if (requests[resource] is null)
                    {
                        requests[resource] = quantity?.DeepClone();
                    }
                }
            }
        }
        PodSpecs.Default(spec);
    }

    public override void Validate(JsonObject obj, List<FieldError> errors) => PodSpecs.Validate(obj["spec"], "spec", errors);

    // Status and binding writes keep the stored spec, which was defaulted and checked when it was written (upstream
    // checks only the status and metadata of status writes, and writes bindings without the pod's checks): only the
    // status defaults apply, and the spec is not walked again.
    public override void DefaultSubresource(JsonObject obj)
    {
        var status = obj.Ensure("status");
        status.Default("phase", "Pending");
        status["qosClass"] = PodSpecs.QosClass(obj.Ensure("spec"));
    }

    public override void ValidateSubresource(JsonObject obj, List<FieldError> errors)
    {
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        // Pods are immutable but for images, activeDeadlineSeconds, tolerations and the scheduler's nodeName binding.
        // The stored spec gets today's defaults too, so that a pod stored before a default was added stays updatable.
        var a = Mutable(obj["spec"]);
        var b = Mutable(old["spec"]);
        if (b is JsonObject stored)
        {
            DefaultSpec(stored);
        }
        if (!JsonNode.DeepEquals(a, b))
        {
            errors.Add(FieldError.Forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
        }
    }

    private static JsonNode? Mutable(JsonNode? spec)
    {
        if (spec is not JsonObject s)
        {
            return null;
        }
        var copy = (JsonObject)s.DeepClone();
        copy.Remove("activeDeadlineSeconds");
        copy.Remove("tolerations");
        foreach (var c in copy.Arr("containers").Objects().Concat(copy.Arr("initContainers").Objects()))
        {
            c.Remove("image");
        }
        return copy;
    }

    private static string NonEmpty(string? s) => string.IsNullOrEmpty(s) ? Cells.None : s;

    private static string Ready(JsonObject pod)
    {
        var total = pod.Arr("spec", "containers")?.Count ?? 0;
        var ready = pod.Arr("status", "containerStatuses").Objects().Count(c => c.Bool("ready") == true);
        return $"{ready}/{total}";
    }

    private static object Restarts(JsonObject pod) =>
        pod.Arr("status", "containerStatuses").Objects().Sum(c => c.Long("restartCount") ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string ReadinessGates(JsonObject pod)
    {
        var gates = pod.Arr("spec", "readinessGates").Objects().ToList();
        if (gates.Count == 0)
        {
            return Cells.None;
        }
        var conditions = pod.Arr("status", "conditions").Objects().ToList();
        var ready = gates.Count(g => conditions.Any(c => c.Str("type") == g.Str("conditionType") && c.Str("status") == "True"));
        return $"{ready}/{gates.Count}";
    }

    /// <summary>kubectl's pod status: the phase, refined by the reason of the first waiting or terminated container.</summary>
    private static string Status(JsonObject pod)
    {
        var reason = pod.Str("status", "reason") ?? pod.Str("status", "phase") ?? "Pending";
        var initializing = false;
        var initStatuses = pod.Arr("status", "initContainerStatuses").Objects().ToList();
        var initCount = pod.Arr("spec", "initContainers")?.Count ?? 0;
        for (var i = 0; i < initStatuses.Count; i++)
        {
            var c = initStatuses[i];
            if (c.Obj("state", "terminated") is { } t && t.Long("exitCode") == 0)
            {
                continue;
            }
            if (c.Obj("state", "terminated") is { } tf)
            {
                reason = tf.Str("reason") is { Length: > 0 } r ? "Init:" + r : $"Init:ExitCode:{tf.Long("exitCode")}";
            }
            else if (c.Obj("state", "waiting") is { } w && w.Str("reason") is { Length: > 0 } wr && wr != "PodInitializing")
            {
                reason = "Init:" + wr;
            }
            else
            {
                reason = $"Init:{i}/{initCount}";
            }
            initializing = true;
            break;
        }
        if (!initializing)
        {
            var hasRunning = false;
            foreach (var c in pod.Arr("status", "containerStatuses").Objects().Reverse())
            {
                if (c.Obj("state", "waiting") is { } w && w.Str("reason") is { Length: > 0 } wr)
                {
                    reason = wr;
                }
                else if (c.Obj("state", "terminated") is { } t)
                {
                    reason = t.Str("reason") is { Length: > 0 } tr ? tr
                        : t.Long("signal") is > 0 and var sig ? $"Signal:{sig}" : $"ExitCode:{t.Long("exitCode")}";
                }
                else if (c["state"]?["running"] is not null && c.Bool("ready") == true)
                {
                    hasRunning = true;
                }
            }
            if (reason == "Completed" && hasRunning)
            {
                reason = "Running";
            }
        }
        if (pod.Str("metadata", "deletionTimestamp") is not null)
        {
            reason = pod.Str("status", "reason") == "NodeLost" ? "Unknown" : "Terminating";
        }
        return reason;
    }
}
