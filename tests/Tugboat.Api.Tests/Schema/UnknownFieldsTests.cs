using System.Text.Json.Nodes;
using Tugboat.Api.Schema;

namespace Tugboat.Api.Tests.Schema;

public sealed class UnknownFieldsTests
{
    [Fact]
    public void RemovesAndReportsFieldsTheKindDoesNotDefine()
    {
        var obj = JsonNode.Parse("""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","bogus":1,"labels":{"any":"label"}},"extra":true,
             "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"a","image":"i","typo":"x","resources":{"limits":{"cpu":"1"}}},{"name":"b","image":"i"}],
               "initContainers":[{"name":"s","image":"i","restartPolicy":"Always"}]}},
               "strategy":{"rollingUpdate":{"maxSurge":"25%"}}}}
            """)!.AsObject();
        var unknown = UnknownFields.Prune(obj, "apps/v1", "Deployment");
        Assert.Equal(["metadata.bogus", "extra", "spec.template.spec.containers[0].typo"], unknown);
        Assert.Null(obj["extra"]);
        Assert.Null(obj["metadata"]!["bogus"]);
        Assert.True(obj["metadata"]!["labels"]!.AsObject().ContainsKey("any"));
        // Fields newer than the OpenAPI reference schema (sidecar restartPolicy, 1.28) are known.
        Assert.Equal("Always", obj["spec"]!["template"]!["spec"]!["initContainers"]![0]!["restartPolicy"]!.GetValue<string>());
        Assert.Equal("25%", obj["spec"]!["strategy"]!["rollingUpdate"]!["maxSurge"]!.GetValue<string>());
    }

    [Fact]
    public void KnowsFieldsThatGoEmbedsInline()
    {
        var pod = JsonNode.Parse("""
            {"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c","image":"i",
              "livenessProbe":{"httpGet":{"path":"/","port":80},"periodSeconds":5},
              "env":[{"name":"A","valueFrom":{"configMapKeyRef":{"name":"cm","key":"k"}}}],
              "envFrom":[{"secretRef":{"name":"s"}}]}],
             "volumes":[{"name":"v","configMap":{"name":"cm"}},{"name":"w","emptyDir":{},"bogus":1}]}}
            """)!.AsObject();
        Assert.Equal(["spec.volumes[1].bogus"], UnknownFields.Prune(pod, "v1", "Pod"));
        var ingress = JsonNode.Parse("""{"spec":{"rules":[{"host":"a","http":{"paths":[]}}]}}""")!.AsObject();
        Assert.Empty(UnknownFields.Prune(ingress, "networking.k8s.io/v1", "Ingress"));
    }

    [Fact]
    public void LeavesValuesAndUnknownKindsAlone()
    {
        var secret = JsonNode.Parse("""{"apiVersion":"v1","kind":"Secret","data":{"k":"dg=="},"stringData":{"x":"y"}}""")!.AsObject();
        Assert.Empty(UnknownFields.Prune(secret, "v1", "Secret"));
        var custom = JsonNode.Parse("""{"apiVersion":"example.com/v1","kind":"Widget","anything":1}""")!.AsObject();
        Assert.Empty(UnknownFields.Prune(custom, "example.com/v1", "Widget"));
        Assert.Equal(1, custom["anything"]!.GetValue<int>());
    }
}
