using System.Text.Json.Nodes;

namespace Tugboat.E2E.Tests;

/// <summary>CustomResourceDefinitions with kubectl: serving, schema validation, defaults, pruning, columns, subresources, versions, deletion, restart.</summary>
public sealed class CustomResourceTests
{
    private const string Crd = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.com}
        spec:
          group: example.com
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
          versions:
          - name: v1
            served: true
            storage: true
            subresources:
              status: {}
              scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
            additionalPrinterColumns:
            - {name: Size, type: string, jsonPath: .spec.size}
            - {name: Replicas, type: integer, jsonPath: .spec.replicas}
            - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
            schema:
              openAPIV3Schema:
                type: object
                properties:
                  spec:
                    type: object
                    required: [size]
                    properties:
                      size: {type: string, enum: [small, large]}
                      replicas: {type: integer, minimum: 0, maximum: 10, default: 1}
                  status:
                    type: object
                    properties:
                      replicas: {type: integer}
          - name: v1beta1
            served: true
            storage: false
            schema:
              openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
        """;

    [Theory]
    [MemberData(nameof(Kubectl.Versions), MemberType = typeof(Kubectl))]
    public async Task DefineUseAndRemoveACustomResource(string version)
    {
        await using var server = new TugServer();
        await server.StartAsync();
        var k = new Kubectl(version, server.Kubeconfig);
        Assert.Contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created", (await k.RunWithInputAsync(Crd, "apply", "-f", "-")).Ok().Out);
        (await k.RunAsync("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s")).Ok();

        Assert.Contains("widget.example.com/w1 created", (await k.RunWithInputAsync("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: small}\n", "apply", "-f", "-")).Ok().Out);
        var table = (await k.RunAsync("get", "wd")).Ok().Out;
        Assert.Matches(@"NAME\s+SIZE\s+REPLICAS\s+AGE\s*\nw1\s+small\s+1\s+\d+s", table);

        var invalid = (await k.RunWithInputAsync("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad}\nspec: {size: huge, replicas: 50}\n", "create", "-f", "-")).Fails();
        Assert.Contains("spec.replicas: Invalid value: 50: spec.replicas in body should be less than or equal to 10", invalid.Err);
        Assert.Contains("spec.size: Unsupported value: \"huge\": supported values: \"small\", \"large\"", invalid.Err);
        var unknown = (await k.RunWithInputAsync("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {size: small, bogus: 1}\n", "create", "-f", "-")).Fails();
        Assert.Contains("strict decoding error: unknown field \"spec.bogus\"", unknown.Err);

        Assert.Contains("scaled", (await k.RunAsync("scale", "widget", "w1", "--replicas=3")).Ok().Out);
        Assert.Contains("patched", (await k.RunAsync("patch", "widget", "w1", "--type=merge", "-p", "{\"spec\":{\"size\":\"large\"}}")).Ok().Out);
        var w1 = JsonNode.Parse((await k.RunAsync("get", "widget", "w1", "-o", "json")).Ok().Out)!;
        Assert.Equal(3, w1["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal("large", w1["spec"]!["size"]!.GetValue<string>());
        Assert.Equal(3, w1["metadata"]!["generation"]!.GetValue<int>());
        Assert.Equal("example.com/v1beta1", (await k.RunAsync("get", "widgets.v1beta1.example.com", "w1", "-o", "jsonpath={.apiVersion}")).Ok().Out);

        // Definitions and their objects survive a restart and are served from the first request.
        await server.StopAsync();
        await server.StartAsync();
        Assert.Contains("w1", (await k.RunAsync("get", "widgets")).Ok().Out);

        Assert.Contains("deleted", (await k.RunAsync("delete", "crd", "widgets.example.com", "--timeout=60s")).Ok().Out);
        Assert.Contains("No resources found", (await k.RunAsync("get", "crd")).Ok().Err);
        // kubectl's discovery cache still knows the type; the server no longer serves it.
        Assert.Contains("the server could not find the requested resource", (await k.RunAsync("get", "widgets")).Fails().Err);
    }
}
