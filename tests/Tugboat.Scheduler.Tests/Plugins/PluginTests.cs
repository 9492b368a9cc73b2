using System.Text.Json.Nodes;
using Tugboat.Scheduler.Framework;
using Tugboat.Scheduler.Plugins.InterPodAffinity;
using Tugboat.Scheduler.Plugins.NodeAffinity;
using Tugboat.Scheduler.Plugins.NodeName;
using Tugboat.Scheduler.Plugins.NodePorts;
using Tugboat.Scheduler.Plugins.NodeResourcesBalancedAllocation;
using Tugboat.Scheduler.Plugins.NodeResourcesFit;
using Tugboat.Scheduler.Plugins.NodeUnschedulable;
using Tugboat.Scheduler.Plugins.PodTopologySpread;
using Tugboat.Scheduler.Plugins.TaintToleration;

namespace Tugboat.Scheduler.Tests.Plugins;

/// <summary>Each plugin against tables of pods and nodes, with the outcomes upstream's plugins give.</summary>
public sealed class PluginTests
{
    private static NodeInfo Node(string json, params string[] pods)
    {
        var node = new NodeInfo(JsonNode.Parse(json)!.AsObject());
        for (var i = 0; i < pods.Length; i++)
        {
            node.AddPod(Pod(pods[i], $$"""{"name":"e{{i}}","namespace":"default","uid":"e{{i}}"}"""));
        }
        return node;
    }

    private static PodInfo Pod(string spec, string meta = """{"name":"p","namespace":"default","uid":"u"}""") =>
        new(JsonNode.Parse($$"""{"metadata":{{meta}},"spec":{{spec}}}""")!.AsObject());

    private const string Small = """{"metadata":{"name":"n1","labels":{"zone":"a","disk":"ssd","kubernetes.io/hostname":"n1"}},"status":{"allocatable":{"cpu":"2","memory":"4Gi","pods":"3"}}}""";

    private static string Requests(string cpu, string memory) => "{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"" + cpu + "\",\"memory\":\"" + memory + "\"}}}]}";

    public static TheoryData<string, string[], string?> ResourceCases => new()
    {
        { Requests("1", "1Gi"), [], null },
        { Requests("2", "4Gi"), [], null },
        { Requests("2100m", "1Gi"), [], "Insufficient cpu" },
        { Requests("1", "5Gi"), [], "Insufficient memory" },
        { Requests("1", "1Gi"), [Requests("1500m", "0")], "Insufficient cpu" },
        { """{"containers":[{"name":"c"}]}""", [Requests("0", "0"), Requests("0", "0"), Requests("0", "0")], "Too many pods" },
        // Init containers count by their largest, not summed with the app containers.
        { """{"initContainers":[{"name":"i","resources":{"requests":{"cpu":"2"}}}],"containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]}""", [], null },
        { """{"initContainers":[{"name":"i","resources":{"requests":{"cpu":"2500m"}}}],"containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]}""", [], "Insufficient cpu" },
    };

    [Theory]
    [MemberData(nameof(ResourceCases))]
    public void NodeResourcesFitFilters(string pod, string[] existing, string? reason)
    {
        var node = Node(Small, existing);
        var status = new NodeResourcesFit().Filter(new CycleState(), Pod(pod), node);
        Assert.Equal(reason, status.IsSuccess ? null : status.Reason);
        Assert.Equal(reason is null ? StatusCode.Success : StatusCode.Unschedulable, status.Code);
    }

    [Fact]
    public void LeastAllocatedPrefersTheEmptierNodeAndCountsPodsWithoutRequests()
    {
        var fit = new NodeResourcesFit();
        var empty = Node(Small);
        var busy = Node(Small, Requests("1", "2Gi"));
        var pod = Pod(Requests("500m", "512Mi"));
        Assert.True(fit.Score(new CycleState(), pod, empty) > fit.Score(new CycleState(), pod, busy));
        // 2 cpu, 4 GiB; after a 500m/512Mi pod: (75 + 87) / 2 = 81.
        Assert.Equal(81, fit.Score(new CycleState(), pod, empty));
        var withBestEffort = Node(Small, """{"containers":[{"name":"c"}]}""");
        Assert.True(fit.Score(new CycleState(), pod, empty) > fit.Score(new CycleState(), pod, withBestEffort));
        Assert.True(new NodeResourcesBalancedAllocation().Score(new CycleState(), Pod(Requests("1", "2Gi")), empty) > new NodeResourcesBalancedAllocation().Score(new CycleState(), Pod(Requests("1", "0")), empty));
    }

    [Fact]
    public void FiltersArePassedOverOnlyForPodsThatGiveThemNothingToCheck()
    {
        var start = 0;
        var plain = Pod(Requests("1", "0"));
        Assert.Equal(StatusCode.Skip, new NodeAffinity().PreFilter(new CycleState(), plain, []).Code);
        Assert.Equal(StatusCode.Skip, new NodePorts().PreFilter(new CycleState(), plain, []).Code);
        Assert.Equal(StatusCode.Skip, new NodeName().PreFilter(new CycleState(), plain, []).Code);
        Assert.Equal(StatusCode.Skip, new PodTopologySpread().PreFilter(new CycleState(), plain, []).Code);
        Assert.Equal("n1", Profile.Default().Schedule(plain, [Node(Small)], ref start).Node!.Name);
        // Pods that ask are still checked by the whole profile.
        var elsewhere = Profile.Default().Schedule(Pod("""{"nodeSelector":{"disk":"hdd"}}"""), [Node(Small)], ref start);
        Assert.StartsWith("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.", elsewhere.FailureMessage);
        var port = """{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8080}]}]}""";
        var taken = Profile.Default().Schedule(Pod(port), [Node(Small, port)], ref start);
        Assert.StartsWith("0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.", taken.FailureMessage);
        var named = Profile.Default().Schedule(Pod("""{"nodeName":"other"}"""), [Node(Small)], ref start);
        Assert.StartsWith("0/1 nodes are available: 1 node(s) didn't match the requested node name.", named.FailureMessage);
    }

    public static TheoryData<string, bool> AffinityCases => new()
    {
        { """{"nodeSelector":{"disk":"ssd"}}""", true },
        { """{"nodeSelector":{"disk":"hdd"}}""", false },
        { """{"nodeSelector":{"gpu":"yes"}}""", false },
        { """{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]}]}]}}}}""", true },
        { """{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"NotIn","values":["a"]}]}]}}}}""", false },
        { """{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["b"]}]},{"matchExpressions":[{"key":"disk","operator":"Exists"}]}]}}}}""", true },
        { """{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]},{"key":"gpu","operator":"Exists"}]}]}}}}""", false },
        { """{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"gpu","operator":"DoesNotExist"}]}]}}}}""", true },
        { """{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]}]}}}}""", true },
        { """{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{}]}}}}""", false },
    };

    [Theory]
    [MemberData(nameof(AffinityCases))]
    public void NodeAffinityFilters(string spec, bool fits)
    {
        Assert.Equal(StatusCode.Success, new NodeAffinity().PreFilter(new CycleState(), Pod(spec), []).Code);
        var status = new NodeAffinity().Filter(new CycleState(), Pod(spec), Node(Small));
        Assert.Equal(fits, status.IsSuccess);
        if (!fits)
        {
            Assert.Equal((StatusCode.UnschedulableAndUnresolvable, NodeAffinity.Reason), (status.Code, status.Reason));
        }
    }

    [Fact]
    public void NodeAffinityScoresPreferredTermsByWeight()
    {
        var pod = Pod("""{"affinity":{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}},{"weight":5,"preference":{"matchExpressions":[{"key":"disk","operator":"In","values":["hdd"]}]}}]}}}""");
        var plugin = new NodeAffinity();
        Assert.Equal(10, plugin.Score(new CycleState(), pod, Node(Small)));
        long[] scores = [10, 5, 0];
        plugin.Normalize(new CycleState(), pod, scores);
        Assert.Equal([100, 50, 0], scores);
        // Pods without preferred terms are not scored at all (upstream's PreScore Skip); with them, the framework
        // still lets the preference decide.
        Assert.Equal(StatusCode.Success, plugin.PreScore(new CycleState(), pod, []).Code);
        Assert.Equal(StatusCode.Skip, plugin.PreScore(new CycleState(), Pod(Requests("1", "0")), []).Code);
        Assert.Equal(StatusCode.Skip, new InterPodAffinity().PreScore(new CycleState(), Pod(Requests("1", "0")), []).Code);
        var start = 0;
        NodeInfo[] nodes = [Node(Small.Replace("\"a\"", "\"b\"", StringComparison.Ordinal).Replace("n1", "n0", StringComparison.Ordinal)), Node(Small)];
        Assert.Equal("n1", Profile.Default().Schedule(pod, nodes, ref start).Node!.Name);
        start = 0;
        Assert.Equal("n1", Profile.Default().Schedule(pod, [nodes[1], nodes[0]], ref start).Node!.Name);
    }

    public static TheoryData<string, string, bool> TaintCases => new()
    {
        { """[{"key":"k","value":"v","effect":"NoSchedule"}]""", "[]", false },
        { """[{"key":"k","value":"v","effect":"NoSchedule"}]""", """[{"key":"k","operator":"Equal","value":"v","effect":"NoSchedule"}]""", true },
        { """[{"key":"k","value":"v","effect":"NoSchedule"}]""", """[{"key":"k","operator":"Equal","value":"w"}]""", false },
        { """[{"key":"k","value":"v","effect":"NoExecute"}]""", """[{"key":"k","operator":"Exists"}]""", true },
        { """[{"key":"k","value":"v","effect":"NoExecute"}]""", """[{"operator":"Exists"}]""", true },
        { """[{"key":"k","value":"v","effect":"NoExecute"}]""", """[{"key":"k","operator":"Exists","effect":"NoSchedule"}]""", false },
        { """[{"key":"k","value":"v","effect":"PreferNoSchedule"}]""", "[]", true },
    };

    [Theory]
    [MemberData(nameof(TaintCases))]
    public void TaintTolerationFilters(string taints, string tolerations, bool fits)
    {
        var node = Node("{\"metadata\":{\"name\":\"n\"},\"spec\":{\"taints\":" + taints + "}}");
        var status = new TaintToleration().Filter(new CycleState(), Pod($$"""{"tolerations":{{tolerations}}}"""), node);
        Assert.Equal(fits, status.IsSuccess);
        if (!fits)
        {
            Assert.Equal("node(s) had untolerated taint {k: v}", status.Reason);
        }
    }

    [Fact]
    public void NameUnschedulableAndPorts()
    {
        Assert.True(new NodeName().Filter(new CycleState(), Pod("""{"nodeName":"n1"}"""), Node(Small)).IsSuccess);
        Assert.Equal(NodeName.Reason, new NodeName().Filter(new CycleState(), Pod("""{"nodeName":"n2"}"""), Node(Small)).Reason);

        var cordoned = Node("""{"metadata":{"name":"n"},"spec":{"unschedulable":true}}""");
        Assert.Equal(NodeUnschedulable.Reason, new NodeUnschedulable().Filter(new CycleState(), Pod("{}"), cordoned).Reason);
        Assert.True(new NodeUnschedulable().Filter(new CycleState(), Pod("""{"tolerations":[{"key":"node.kubernetes.io/unschedulable","operator":"Exists","effect":"NoSchedule"}]}"""), cordoned).IsSuccess);

        var withPort = Node(Small, """{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8080}]}]}""");
        Assert.Equal(NodePorts.Reason, new NodePorts().Filter(new CycleState(), Pod("""{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8080}]}]}"""), withPort).Reason);
        Assert.True(new NodePorts().Filter(new CycleState(), Pod("""{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8080,"protocol":"UDP"}]}]}"""), withPort).IsSuccess);
        Assert.True(new NodePorts().Filter(new CycleState(), Pod("""{"containers":[{"name":"c","ports":[{"containerPort":80,"hostPort":8081}]}]}"""), withPort).IsSuccess);
    }

    [Fact]
    public void InterPodAffinityAndAntiAffinityByTopology()
    {
        var webMeta = """{"name":"w0","namespace":"default","uid":"w0","labels":{"app":"web"}}""";
        var a1 = new NodeInfo(JsonNode.Parse("""{"metadata":{"name":"a1","labels":{"zone":"a","kubernetes.io/hostname":"a1"}}}""")!.AsObject());
        var a2 = new NodeInfo(JsonNode.Parse("""{"metadata":{"name":"a2","labels":{"zone":"a","kubernetes.io/hostname":"a2"}}}""")!.AsObject());
        var b1 = new NodeInfo(JsonNode.Parse("""{"metadata":{"name":"b1","labels":{"zone":"b","kubernetes.io/hostname":"b1"}}}""")!.AsObject());
        a1.AddPod(Pod("{}", webMeta));
        NodeInfo[] nodes = [a1, a2, b1];
        bool[] Run(PodInfo pod)
        {
            var plugin = new InterPodAffinity();
            var state = new CycleState();
            Assert.True(plugin.PreFilter(state, pod, nodes).IsSuccess);
            return nodes.Select(n => plugin.Filter(state, pod, n).IsSuccess).ToArray();
        }
        var together = Pod("""{"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"zone"}]}}}""");
        Assert.Equal([true, true, false], Run(together));
        var apart = Pod("""{"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname"}]}}}""");
        Assert.Equal([false, true, true], Run(apart));
        // The first pod of a group with affinity to its own group may go anywhere.
        var first = Pod("""{"affinity":{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"db"}},"topologyKey":"zone"}]}}}""", """{"name":"d","namespace":"default","uid":"d","labels":{"app":"db"}}""");
        Assert.Equal([true, true, true], Run(first));
        // An existing pod's anti-affinity keeps matching pods out of its domain.
        b1.AddPod(Pod("""{"affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"tier":"cache"}},"topologyKey":"zone"}]}}}""", """{"name":"lonely","namespace":"default","uid":"l"}"""));
        Assert.Equal([true, true, false], Run(Pod("{}", """{"name":"c","namespace":"default","uid":"c","labels":{"tier":"cache"}}""")));
        // With the scheduler's word that some placed pod has required anti-affinity, the check still runs; with its word
        // that none has, a pod without terms of its own needs no visit to any node, and its filter is skipped.
        var cache = Pod("{}", """{"name":"c2","namespace":"default","uid":"c2","labels":{"tier":"cache"}}""");
        var told = new InterPodAffinity { AnyRequiredAntiAffinity = () => true };
        var toldState = new CycleState();
        Assert.True(told.PreFilter(toldState, cache, nodes).IsSuccess);
        Assert.False(told.Filter(toldState, cache, b1).IsSuccess);
        var none = new InterPodAffinity { AnyRequiredAntiAffinity = () => false };
        Assert.Equal(StatusCode.Skip, none.PreFilter(new CycleState(), Pod("{}"), new UntouchableNodes()).Code);
        Assert.Throws<InvalidOperationException>(() => none.PreFilter(new CycleState(), apart, new UntouchableNodes()));
    }

    private sealed class UntouchableNodes : IReadOnlyList<NodeInfo>
    {
        public NodeInfo this[int index] => throw new InvalidOperationException("a node was visited");

        public int Count => throw new InvalidOperationException("a node was visited");

        public IEnumerator<NodeInfo> GetEnumerator() => throw new InvalidOperationException("a node was visited");

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [Fact]
    public void PodsWithoutConstraintsAreSpreadBySystemDefaultsOverWhatTheirServicesAndControllerSelect()
    {
        NodeInfo N(string name) => new(JsonNode.Parse("{\"metadata\":{\"name\":\"" + name + "\",\"labels\":{\"kubernetes.io/hostname\":\"" + name + "\"}}}")!.AsObject());
        var busy = N("busy");
        var idle = N("idle");
        busy.AddPod(Pod("{}", """{"name":"w1","namespace":"default","uid":"w1","labels":{"app":"web","tier":"front"}}"""));
        busy.AddPod(Pod("{}", """{"name":"w2","namespace":"default","uid":"w2","labels":{"app":"web","tier":"front"}}"""));
        idle.AddPod(Pod("{}", """{"name":"o1","namespace":"default","uid":"o1","labels":{"app":"other"}}"""));
        var pod = Pod("{}", """{"name":"w3","namespace":"default","uid":"w3","labels":{"app":"web","tier":"front"},"ownerReferences":[{"kind":"ReplicaSet","name":"web-1","controller":true}]}""");

        var services = new[]
        {
            JsonNode.Parse("""{"metadata":{"namespace":"default","name":"web"},"spec":{"selector":{"app":"web"}}}""")!.AsObject(),
            JsonNode.Parse("""{"metadata":{"namespace":"default","name":"db"},"spec":{"selector":{"app":"db"}}}""")!.AsObject(),
            JsonNode.Parse("""{"metadata":{"namespace":"other","name":"web"},"spec":{"selector":{"app":"nothing"}}}""")!.AsObject(),
        };
        var replicaSet = JsonNode.Parse("""{"spec":{"selector":{"matchLabels":{"tier":"front"},"matchExpressions":[{"key":"app","operator":"Exists"}]}}}""")!.AsObject();
        var selector = Scheduler.DefaultSelector(pod, services, key => key == "default/web-1" ? replicaSet : null, _ => null);
        Assert.NotNull(selector);
        Assert.True(selector.Matches(new Dictionary<string, string> { ["app"] = "web", ["tier"] = "front" }));
        Assert.False(selector.Matches(new Dictionary<string, string> { ["app"] = "web" }));
        Assert.Null(Scheduler.DefaultSelector(Pod("{}", """{"name":"lone","namespace":"default","uid":"l"}"""), services, _ => null, _ => null));

        var plugin = new PodTopologySpread { DefaultSelector = _ => selector };
        var state = new CycleState();
        Assert.Equal(StatusCode.Success, plugin.PreScore(state, pod, [busy, idle]).Code);
        long[] scores = [plugin.Score(state, pod, busy), plugin.Score(state, pod, idle)];
        plugin.Normalize(state, pod, scores);
        Assert.True(scores[1] > scores[0], $"idle {scores[1]} should beat busy {scores[0]}");
        // Without a selector nothing is spread (and nothing is computed): the plugin's scoring is skipped.
        var none = new PodTopologySpread();
        state = new CycleState();
        Assert.Equal(StatusCode.Skip, none.PreScore(state, pod, [busy, idle]).Code);
        scores = [none.Score(state, pod, busy), none.Score(state, pod, idle)];
        none.Normalize(state, pod, scores);
        Assert.Equal(scores[0], scores[1]);
    }

    [Fact]
    public void TopologySpreadBoundsTheSkewAndPrefersEmptierDomains()
    {
        NodeInfo N(string name, string? zone) => new(JsonNode.Parse(
            "{\"metadata\":{\"name\":\"" + name + "\",\"labels\":" + (zone is null ? "{}" : "{\"zone\":\"" + zone + "\"}") + "}}")!.AsObject());
        var a1 = N("a1", "a");
        var a2 = N("a2", "a");
        var b1 = N("b1", "b");
        var bare = N("x", null);
        a1.AddPod(Pod("{}", """{"name":"w1","namespace":"default","uid":"w1","labels":{"app":"web"}}"""));
        a1.AddPod(Pod("{}", """{"name":"w2","namespace":"default","uid":"w2","labels":{"app":"web"}}"""));
        NodeInfo[] nodes = [a1, a2, b1, bare];
        var meta = """{"name":"w3","namespace":"default","uid":"w3","labels":{"app":"web"}}""";
        var hard = Pod("""{"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"web"}}}]}""", meta);
        var plugin = new PodTopologySpread();
        var state = new CycleState();
        Assert.True(plugin.PreFilter(state, hard, nodes).IsSuccess);
        var results = nodes.Select(n => plugin.Filter(state, hard, n)).ToList();
        Assert.Equal([PodTopologySpread.Reason, PodTopologySpread.Reason, null, PodTopologySpread.MissingLabelReason], results.Select(r => r.IsSuccess ? null : r.Reason));
        Assert.Equal(StatusCode.UnschedulableAndUnresolvable, results[3].Code);

        var soft = Pod("""{"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app":"web"}}}]}""", meta);
        state = new CycleState();
        Assert.Equal(StatusCode.Success, plugin.PreScore(state, soft, [a1, a2, b1]).Code);
        long[] scores = [plugin.Score(state, soft, a1), plugin.Score(state, soft, a2), plugin.Score(state, soft, b1)];
        plugin.Normalize(state, soft, scores);
        Assert.True(scores[2] > scores[0]);
        Assert.Equal(scores[0], scores[1]);
        Assert.Equal(100, scores[2]);
    }

    [Fact]
    public void PreemptionSparesPodsThatADisruptionBudgetProtects()
    {
        // Two nodes, each with one 1-cpu pod of priority 0; the db pods' budget allows no disruption, the web ones' one.
        NodeInfo Full(string name, string app)
        {
            var node = Node("{\"metadata\":{\"name\":\"" + name + "\"},\"status\":{\"allocatable\":{\"cpu\":\"1\",\"memory\":\"1Gi\",\"pods\":\"10\"}}}");
            node.AddPod(Pod(Requests("1", "0"), $"{{\"name\":\"{app}-{name}\",\"namespace\":\"default\",\"uid\":\"{app}-{name}\",\"labels\":{{\"app\":\"{app}\"}}}}"));
            return node;
        }
        var budgets = new List<JsonObject>
        {
            JsonNode.Parse("""{"metadata":{"name":"db","namespace":"default"},"spec":{"selector":{"matchLabels":{"app":"db"}}},"status":{"disruptionsAllowed":0}}""")!.AsObject(),
            JsonNode.Parse("""{"metadata":{"name":"web","namespace":"default"},"spec":{"selector":{"matchLabels":{"app":"web"}}},"status":{"disruptionsAllowed":1}}""")!.AsObject(),
        };
        var profile = Profile.Default();
        profile.Plugin<Tugboat.Scheduler.Plugins.DefaultPreemption.DefaultPreemption>()!.DisruptionBudgets = () => budgets;
        var preemptor = Pod("{\"priority\":10," + Requests("1", "0")[1..]);
        var start = 0;
        // Node order does not matter: the node whose victim no budget protects wins.
        foreach (var order in new[] { new[] { Full("a", "db"), Full("b", "web") }, [Full("b", "web"), Full("a", "db")] })
        {
            var result = profile.Schedule(preemptor, order, ref start);
            Assert.Equal("b", result.Nominated!.Name);
            Assert.Equal(["web-b"], result.Victims.Select(v => v.Name));
        }
        // When every choice breaks a budget, preemption still happens (upstream only prefers not to).
        var result2 = profile.Schedule(preemptor, [Full("a", "db")], ref start);
        Assert.Equal(["db-a"], result2.Victims.Select(v => v.Name));

        // One allowed disruption covers one pod: the second pod the budget selects violates it; pods already
        // recorded as disrupted and budgets with an empty selector do not count.
        var web = Enumerable.Range(0, 3).Select(i => Pod("{}", $"{{\"name\":\"w{i}\",\"namespace\":\"default\",\"uid\":\"w{i}\",\"labels\":{{\"app\":\"web\"}}}}")).ToList();
        Assert.Equal(["w1", "w2"], Tugboat.Scheduler.Plugins.DefaultPreemption.DefaultPreemption.Violating(web, budgets).Select(p => p.Name).Order());
        budgets[1]["status"]!["disruptedPods"] = new JsonObject { ["w0"] = "2026-01-01T00:00:00Z" };
        Assert.Equal(["w2"], Tugboat.Scheduler.Plugins.DefaultPreemption.DefaultPreemption.Violating(web, budgets).Select(p => p.Name));
        Assert.Empty(Tugboat.Scheduler.Plugins.DefaultPreemption.DefaultPreemption.Violating(web, [JsonNode.Parse("""{"metadata":{"name":"all","namespace":"default"},"spec":{"selector":{}},"status":{"disruptionsAllowed":0}}""")!.AsObject()]));
    }

    [Fact]
    public void ProfileCountsReasonsLikeUpstreamAndSamplesLargeClusters()
    {
        var nodes = new List<NodeInfo>
        {
            Node("""{"metadata":{"name":"n0"},"spec":{"taints":[{"key":"k","value":"v","effect":"NoSchedule"}]},"status":{"allocatable":{"cpu":"2","memory":"1Gi","pods":"10"}}}"""),
            Node("""{"metadata":{"name":"n1"},"status":{"allocatable":{"cpu":"1","memory":"1Gi","pods":"10"}}}"""),
            Node("""{"metadata":{"name":"n2"},"status":{"allocatable":{"cpu":"1","memory":"1Gi","pods":"10"}}}"""),
        };
        var start = 0;
        var result = Profile.Default().Schedule(Pod(Requests("1500m", "0")), nodes, ref start);
        Assert.Null(result.Node);
        Assert.Equal("0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.", result.FailureMessage);
        Assert.False(result.Unresolvable);
        Assert.Equal("n1", Profile.Default().Schedule(Pod(Requests("500m", "0")), nodes[..2], ref start).Node!.Name);

        // A higher-priority pod preempts the fewest, least important pods that make room.
        var full = Node("""{"metadata":{"name":"full"},"status":{"allocatable":{"cpu":"2","memory":"1Gi","pods":"10"}}}""");
        full.AddPod(Pod(Requests("1", "0"), """{"name":"low","namespace":"default","uid":"low"}"""));
        full.AddPod(Pod("{\"priority\":5," + Requests("1", "0")[1..], """{"name":"mid","namespace":"default","uid":"mid"}"""));
        var preemptor = Pod("{\"priority\":10," + Requests("1", "0")[1..]);
        var preempted = Profile.Default().Schedule(preemptor, [full], ref start);
        Assert.Null(preempted.Node);
        Assert.Equal("full", preempted.Nominated!.Name);
        Assert.Equal(["low"], preempted.Victims.Select(v => v.Name));
        var never = Pod("{\"priority\":10,\"preemptionPolicy\":\"Never\"," + Requests("1", "0")[1..]);
        Assert.EndsWith("preemption: not eligible due to preemptionPolicy=Never.", Profile.Default().Schedule(never, [full], ref start).FailureMessage);

        Assert.Equal(50, Profile.FeasibleNodesToFind(50));
        Assert.Equal(100, Profile.FeasibleNodesToFind(150));
        Assert.Equal(500, Profile.FeasibleNodesToFind(5000));
        Assert.Equal(5000, Profile.FeasibleNodesToFind(100_000));
    }
}
