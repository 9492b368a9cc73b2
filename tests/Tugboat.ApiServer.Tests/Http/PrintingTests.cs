using System.Text;
using System.Text.Json.Nodes;
using Tugboat.ApiServer.Http;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Tests.Http;

public sealed class PrintingTests
{
    [Theory]
    [InlineData(0, "0s")]
    [InlineData(119, "119s")]
    [InlineData(120, "2m")]
    [InlineData(125, "2m5s")]
    [InlineData(600, "10m")]
    [InlineData(3 * 3600 - 1, "179m")]
    [InlineData(3 * 3600 + 60, "3h1m")]
    [InlineData(8 * 3600, "8h")]
    [InlineData(47 * 3600, "47h")]
    [InlineData(49 * 3600, "2d1h")]
    [InlineData(8 * 86400, "8d")]
    [InlineData(800 * 86400, "2y70d")]
    public void AgesPrintAsKubectlDoes(long seconds, string expected) =>
        Assert.Equal(expected, Cells.HumanDuration(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void PodTableHasKubectlsColumnsAndStatus()
    {
        var pods = Builtins.Create().Get(string.Empty, "Pod");
        var pod = JsonNode.Parse("""
            {"metadata":{"name":"p","creationTimestamp":"2020-01-01T00:00:00Z"},"spec":{"nodeName":"n1","containers":[{"name":"a"},{"name":"b"}]},
             "status":{"phase":"Running","podIP":"10.42.0.5","containerStatuses":[{"name":"a","ready":true,"restartCount":2,"state":{"running":{}}},{"name":"b","ready":false,"restartCount":1,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}
            """)!.AsObject();
        var table = Tables.Build(pods, [pod], "7", null, "None");
        var columns = table["columnDefinitions"]!.AsArray().Select(c => (c!["name"]!.GetValue<string>(), c["priority"]!.GetValue<int>())).ToList();
        Assert.Equal([("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)], columns);
        var cells = table["rows"]![0]!["cells"]!.AsArray().Select(c => c?.ToString()).ToList();
        Assert.Equal(["p", "1/2", "CrashLoopBackOff", "3"], cells.Take(4));
        Assert.Equal(["10.42.0.5", "n1", "<none>", "<none>"], cells.Skip(5));
        Assert.Null(table["rows"]![0]!["object"]);
    }

    [Fact]
    public void ServiceTableShowsPortsAndExternalAddresses()
    {
        var svc = Builtins.Create().Get(string.Empty, "Service");
        var obj = JsonNode.Parse("""{"metadata":{"name":"s"},"spec":{"type":"LoadBalancer","clusterIP":"10.43.0.9","clusterIPs":["10.43.0.9"],"ports":[{"port":80,"nodePort":30080,"protocol":"TCP"},{"port":53,"protocol":"UDP"}],"selector":{"app":"x"}}}""")!.AsObject();
        var cells = Tables.Build(svc, [obj], null, null, "Metadata")["rows"]![0]!["cells"]!.AsArray().Select(c => c?.ToString()).ToList();
        Assert.Equal(["s", "LoadBalancer", "10.43.0.9", "<pending>", "80:30080/TCP,53/UDP"], cells.Take(5));
        Assert.Equal("app=x", cells[6]);
    }

    [Theory]
    [InlineData("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", "Table")]
    [InlineData("application/vnd.kubernetes.protobuf,application/json", "Object")]
    [InlineData("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", "PartialObjectMetadata")]
    [InlineData("*/*", "Object")]
    [InlineData("", "Object")]
    public void NegotiatesRepresentations(string accept, string expected) =>
        Assert.Equal(expected, MediaTypes.Negotiate(accept).ToString());

    [Fact]
    public void UnacceptableMediaTypesAre406() =>
        Assert.Equal(406, Assert.Throws<ApiException>(() => MediaTypes.Negotiate("application/xml")).Code);

    [Fact]
    public void StoredObjectsCarryTheirRevisionWhenWrittenOut()
    {
        var stored = ObjectCodec.Encode(JsonNode.Parse("""{"data":{"a":"b"},"metadata":{"resourceVersion":"999","name":"x"},"kind":"ConfigMap","apiVersion":"v1"}""")!.AsObject());
        Assert.Equal("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"b"}}""", Encoding.UTF8.GetString(stored));
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        ObjectCodec.WriteWithResourceVersion(buffer, stored, 42);
        Assert.Equal("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"resourceVersion":"42","name":"x"},"data":{"a":"b"}}""", Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void ContinueTokensRoundTripAndRejectForgery()
    {
        var token = ContinueToken.Encode(17, "/registry/pods/", "/registry/pods/ns/p1");
        Assert.Equal((17L, "/registry/pods/ns/p1"), ContinueToken.Decode(token, "/registry/pods/"));
        Assert.Equal(400, Assert.Throws<ApiException>(() => ContinueToken.Decode("not-a-token", "/registry/pods/")).Code);
        var escape = Convert.ToBase64String(Encoding.UTF8.GetBytes("""{"v":"meta.k8s.io/v1","rv":1,"start":"../secrets/x"}"""));
        Assert.Equal(400, Assert.Throws<ApiException>(() => ContinueToken.Decode(escape, "/registry/pods/")).Code);
    }
}
