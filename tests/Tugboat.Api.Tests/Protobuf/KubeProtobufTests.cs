using System.Text;
using Tugboat.Api.Protobuf;

namespace Tugboat.Api.Tests.Protobuf;

/// <summary>Decoding the wire form kubectl's typed clients send (application/vnd.kubernetes.protobuf).</summary>
public sealed class KubeProtobufTests
{
    /// <summary>Builds protobuf bytes: fields are (number, value) with string, long, bool, byte[] (embedded) values.</summary>
    private static byte[] Msg(params (int Field, object Value)[] fields)
    {
        var ms = new MemoryStream();
        void Varint(ulong v)
        {
            while (v >= 0x80)
            {
                ms.WriteByte((byte)(v | 0x80));
                v >>= 7;
            }
            ms.WriteByte((byte)v);
        }
        foreach (var (field, value) in fields)
        {
            switch (value)
            {
                case string s:
                    Varint((ulong)(field << 3 | 2));
                    var b = Encoding.UTF8.GetBytes(s);
                    Varint((ulong)b.Length);
                    ms.Write(b);
                    break;
                case byte[] bytes:
                    Varint((ulong)(field << 3 | 2));
                    Varint((ulong)bytes.Length);
                    ms.Write(bytes);
                    break;
                case long l:
                    Varint((ulong)(field << 3));
                    Varint((ulong)l);
                    break;
                case bool flag:
                    Varint((ulong)(field << 3));
                    Varint(flag ? 1UL : 0UL);
                    break;
            }
        }
        return ms.ToArray();
    }

    private static byte[] Envelope(string apiVersion, string kind, byte[] raw) =>
        [.. "k8s\0"u8.ToArray(), .. Msg((1, Msg((1, apiVersion), (2, kind))), (2, raw), (3, string.Empty), (4, string.Empty))];

    [Fact]
    public void DecodesAConfigMapWithMetadataMapsAndZeroValues()
    {
        // ObjectMeta: name=1, generateName=2, namespace=3, labels=11 (map entries), creationTimestamp=8 (zero Time).
        var meta = Msg((1, "cfg"), (2, string.Empty), (3, string.Empty), (8, Array.Empty<byte>()), (11, Msg((1, "app"), (2, "web"))), (11, Msg((1, "tier"), (2, string.Empty))));
        // ConfigMap: metadata=1, data=2 (map<string,string>), binaryData=3 (map<string,bytes>), immutable=4 (optional bool).
        var cm = Msg((1, meta), (2, Msg((1, "k"), (2, "v"))), (3, Msg((1, "bin"), (2, new byte[] { 1, 2, 3 }))), (4, false));
        var obj = KubeProtobuf.Decode(Envelope("v1", "ConfigMap", cm));
        Assert.Equal(
            """{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","creationTimestamp":null,"labels":{"app":"web","tier":""}},"data":{"k":"v"},"binaryData":{"bin":"AQID"},"immutable":false}""",
            obj.ToJsonString());
    }

    [Fact]
    public void DecodesNestedMessagesRepeatedFieldsAndIntOrString()
    {
        // Deployment: metadata=1, spec=2 { replicas=1, selector=2, template=3 { spec=2 { containers=2 [ { name=1, image=2 } ] } }, strategy=4 { rollingUpdate=2 { maxUnavailable=1 IntOrString } } }.
        var container = Msg((1, "web"), (2, "nginx"));
        var template = Msg((1, Msg((1, string.Empty))), (2, Msg((2, container), (2, Msg((1, "side"), (2, "busybox"))))));
        var rolling = Msg((1, Msg((1, 1L), (3, "30%"))), (2, Msg((1, 0L), (2, 2L))));
        var spec = Msg((1, 0L), (3, template), (4, Msg((1, "RollingUpdate"), (2, rolling))));
        var obj = KubeProtobuf.Decode(Envelope("apps/v1", "Deployment", Msg((1, Msg((1, "d"))), (2, spec))));
        Assert.Equal(0, obj["spec"]!["replicas"]!.GetValue<long>());
        Assert.Equal("side", obj["spec"]!["template"]!["spec"]!["containers"]![1]!["name"]!.GetValue<string>());
        Assert.Equal("30%", obj["spec"]!["strategy"]!["rollingUpdate"]!["maxUnavailable"]!.GetValue<string>());
        Assert.Equal(2, obj["spec"]!["strategy"]!["rollingUpdate"]!["maxSurge"]!.GetValue<long>());
    }

    [Fact]
    public void InlineMessagesLandInTheirParent()
    {
        // Probe: handler=1 (inline ProbeHandler: httpGet=2 { path=1 }), periodSeconds=4.
        var probe = Msg((1, Msg((2, Msg((1, "/healthz"))))), (4, 5L));
        var container = Msg((1, "web"), (2, "nginx"), (10, probe));
        var pod = Msg((1, Msg((1, "p"))), (2, Msg((2, container))));
        var obj = KubeProtobuf.Decode(Envelope("v1", "Pod", pod));
        Assert.Equal("""{"httpGet":{"path":"/healthz"},"periodSeconds":5}""", obj["spec"]!["containers"]![0]!["livenessProbe"]!.ToJsonString());
    }

    [Fact]
    public void DecodesTimes()
    {
        var meta = Msg((1, "n"), (8, Msg((1, 1_700_000_000L))));
        var obj = KubeProtobuf.Decode(Envelope("v1", "Namespace", Msg((1, meta))));
        Assert.Equal("2023-11-14T22:13:20Z", obj["metadata"]!["creationTimestamp"]!.GetValue<string>());
    }

    [Fact]
    public void DeleteOptionsUnderAnyGroupVersionComeFromMeta()
    {
        // DeleteOptions: gracePeriodSeconds=1, propagationPolicy=4.
        var obj = KubeProtobuf.Decode(Envelope("v1", "DeleteOptions", Msg((1, 0L), (4, "Foreground"))));
        Assert.Equal(0, obj["gracePeriodSeconds"]!.GetValue<long>());
        Assert.Equal("Foreground", obj["propagationPolicy"]!.GetValue<string>());
    }

    [Fact]
    public void RejectsUnknownKindsFieldsAndTruncatedData()
    {
        Assert.Throws<FormatException>(() => KubeProtobuf.Decode(Envelope("v1", "NoSuchKind", [])));
        Assert.Throws<FormatException>(() => KubeProtobuf.Decode(Envelope("v1", "ConfigMap", Msg((99, "x")))));
        Assert.Throws<FormatException>(() => KubeProtobuf.Decode(Envelope("v1", "ConfigMap", [0x0a, 0x05, 0x01])));
        Assert.Throws<FormatException>(() => KubeProtobuf.Decode("{}"u8));
    }

    [Theory]
    [InlineData("v1", "Pod", "k8s.io.api.core.v1.Pod")]
    [InlineData("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment")]
    [InlineData("networking.k8s.io/v1", "Ingress", "k8s.io.api.networking.v1.Ingress")]
    [InlineData("rbac.authorization.k8s.io/v1", "Role", "k8s.io.api.rbac.v1.Role")]
    [InlineData("meta.k8s.io/v1", "DeleteOptions", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions")]
    public void MapsKindsToMessages(string apiVersion, string kind, string message) =>
        Assert.Equal(message, KubeProtobuf.MessageName(apiVersion, kind));
}
