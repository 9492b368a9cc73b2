using System.Text.Json.Nodes;
using Tugboat.ApiServer.Registry.Strategies;

namespace Tugboat.ApiServer.Tests.Registry;

public sealed class VersionConversionTests
{
    private readonly HorizontalPodAutoscalerV1Converter _converter = new();

    [Fact]
    public void V1TargetIsTheV2CpuUtilizationMetricAndBack()
    {
        var v1 = JsonNode.Parse("""{"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},"spec":{"scaleTargetRef":{"kind":"Deployment","name":"d"},"maxReplicas":5,"targetCPUUtilizationPercentage":60},"status":{"currentReplicas":2,"currentCPUUtilizationPercentage":40}}""")!.AsObject();
        var v2 = _converter.ToStored(v1);
        Assert.Equal("autoscaling/v2", v2["apiVersion"]!.GetValue<string>());
        Assert.Equal("""[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":60}}}]""", v2["spec"]!["metrics"]!.ToJsonString());
        Assert.Null(v2["spec"]!["targetCPUUtilizationPercentage"]);
        Assert.Equal(40, v2["status"]!["currentMetrics"]![0]!["resource"]!["current"]!["averageUtilization"]!.GetValue<long>());
        var back = _converter.FromStored(v2);
        Assert.True(JsonNode.DeepEquals(v1, back), back.ToJsonString());
    }

    [Fact]
    public void EventsV1FieldsAreTheCoreEventFields()
    {
        var converter = new EventsV1Converter();
        var v1 = JsonNode.Parse("""{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e"},"regarding":{"kind":"Pod","name":"p"},"note":"hello","reportingController":"ctl","reportingInstance":"i","deprecatedCount":2,"reason":"R"}""")!.AsObject();
        var core = converter.ToStored(v1);
        Assert.Equal("""{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"involvedObject":{"kind":"Pod","name":"p"},"message":"hello","reportingComponent":"ctl","reportingInstance":"i","count":2,"reason":"R"}""", core.ToJsonString());
        Assert.True(JsonNode.DeepEquals(v1, converter.FromStored(core)));
    }

    [Fact]
    public void MetricsV1CannotExpressAreNotShown()
    {
        var v2 = JsonNode.Parse("""{"apiVersion":"autoscaling/v2","spec":{"metrics":[{"type":"Pods","pods":{"metric":{"name":"qps"}}}],"behavior":{}},"status":{"conditions":[]}}""")!.AsObject();
        var v1 = _converter.FromStored(v2);
        Assert.Equal("""{"apiVersion":"autoscaling/v1","spec":{},"status":{}}""", v1.ToJsonString());
    }
}
