using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Api.Protobuf;

/// <summary>
/// Decodes Kubernetes' protobuf encoding (<c>application/vnd.kubernetes.protobuf</c>: the "k8s\0" prefix and a
/// runtime.Unknown envelope around the object) into the object's JSON form, driven by <see cref="ProtoSchema"/>.
/// </summary>
/// <remarks>
/// Go's protobuf code writes every non-pointer scalar field even when it holds its zero value, while JSON omits them,
/// and upstream's defaulting treats a zero value as unset. So zero scalars are dropped, except for the optional
/// (pointer) fields where an explicit zero is meaningful, listed in <see cref="MeaningfulZero"/>.
/// </remarks>
public static class KubeProtobuf
{
    public const string MediaType = "application/vnd.kubernetes.protobuf";

    private static ReadOnlySpan<byte> Magic => "k8s\0"u8;

    private static readonly HashSet<string> MeaningfulZero = new(StringComparer.Ordinal)
    {
        "replicas", "parallelism", "completions", "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes", "revisionHistoryLimit",
        "terminationGracePeriodSeconds", "activeDeadlineSeconds", "ttlSecondsAfterFinished", "startingDeadlineSeconds",
        "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "partition", "runAsUser", "runAsGroup", "fsGroup",
        "automountServiceAccountToken", "enableServiceLinks", "allocateLoadBalancerNodePorts", "storageClassName", "suspend",
        "immutable", "privileged", "readOnlyRootFilesystem", "runAsNonRoot", "allowPrivilegeEscalation", "setHostnameAsFQDN",
        "shareProcessNamespace", "hostUsers", "optional", "defaultMode", "mode", "expirationSeconds", "priority",
        "gracePeriodSeconds", "orphanDependents", "progressDeadlineSeconds", "tolerationSeconds",
        "publishNotReadyAddresses", "ready", "serving", "terminating", "unschedulable", "manualSelector", "maxSkew",
        "podInfoOnMountVersion", "sizeLimit", "limit",
    };

    public static bool IsProtobuf(ReadOnlySpan<byte> body) => body.StartsWith(Magic);

    /// <summary>Decodes an encoded object; throws <see cref="FormatException"/> for malformed data or unknown kinds.</summary>
    public static JsonObject Decode(ReadOnlySpan<byte> body)
    {
        if (!IsProtobuf(body))
        {
            throw new FormatException("protobuf object is missing the k8s\\0 prefix");
        }
        var reader = new Reader(body[Magic.Length..].ToArray());
        string apiVersion = string.Empty, kind = string.Empty;
        byte[]? raw = null;
        while (!reader.AtEnd)
        {
            var (field, wire) = reader.Tag();
            switch (field)
            {
                case 1 when wire == 2:
                    var tm = new Reader(reader.Bytes());
                    while (!tm.AtEnd)
                    {
                        var (f, w) = tm.Tag();
                        if (f == 1 && w == 2)
                        {
                            apiVersion = Encoding.UTF8.GetString(tm.Bytes());
                        }
                        else if (f == 2 && w == 2)
                        {
                            kind = Encoding.UTF8.GetString(tm.Bytes());
                        }
                        else
                        {
                            tm.Skip(w);
                        }
                    }
                    break;
                case 2 when wire == 2:
                    raw = reader.Bytes();
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }
        var message = MessageName(apiVersion, kind);
        if (!ProtoSchema.Instance.TryGetMessage(message, out _))
        {
            // Options kinds (DeleteOptions and the like) travel under every group version but live in meta/v1.
            message = "k8s.io.apimachinery.pkg.apis.meta.v1." + kind;
        }
        if (!ProtoSchema.Instance.TryGetMessage(message, out _))
        {
            throw new FormatException($"no kind \"{kind}\" is registered for version \"{apiVersion}\" in the protobuf scheme");
        }
        var obj = DecodeMessage(raw ?? [], message);
        var result = new JsonObject { ["apiVersion"] = apiVersion, ["kind"] = kind };
        foreach (var (k, v) in obj)
        {
            result[k] = v?.DeepClone();
        }
        return result;
    }

    /// <summary>The protobuf message of a kind: apps/v1 Deployment is k8s.io.api.apps.v1.Deployment.</summary>
    public static string MessageName(string apiVersion, string kind)
    {
        var slash = apiVersion.IndexOf('/');
        var group = slash < 0 ? string.Empty : apiVersion[..slash];
        var version = slash < 0 ? apiVersion : apiVersion[(slash + 1)..];
        if (group == "meta.k8s.io")
        {
            return $"k8s.io.apimachinery.pkg.apis.meta.{version}.{kind}";
        }
        var package = group.Length == 0 ? "core" : group.Split('.')[0];
        return $"k8s.io.api.{package}.{version}.{kind}";
    }

    private static JsonObject DecodeMessage(byte[] data, string message)
    {
        ProtoSchema.Instance.TryGetMessage(message, out var fields);
        var obj = new JsonObject();
        var reader = new Reader(data);
        while (!reader.AtEnd)
        {
            var (number, wire) = reader.Tag();
            if (!fields.TryGetValue(number, out var field))
            {
                throw new FormatException($"field {number} is not part of {message}");
            }
            if (field.Type == "map")
            {
                var map = obj[field.Name] as JsonObject ?? new JsonObject();
                obj[field.Name] = map;
                var entry = new Reader(reader.Bytes());
                string key = string.Empty;
                JsonNode? value = null;
                while (!entry.AtEnd)
                {
                    var (f, w) = entry.Tag();
                    if (f == 1)
                    {
                        key = ReadScalar(entry, field.MapKey!, w)?.ToString() ?? string.Empty;
                    }
                    else if (f == 2)
                    {
                        value = ReadValue(entry, field.MapValue!, w);
                    }
                    else
                    {
                        entry.Skip(w);
                    }
                }
                value ??= field.MapValue == "string" ? JsonValue.Create(string.Empty) : field.MapValue == "bytes" ? JsonValue.Create(string.Empty) : null;
                map[key] = value;
                continue;
            }
            if (field.Repeated)
            {
                var array = obj[field.Name] as JsonArray ?? new JsonArray();
                obj[field.Name] = array;
                if (wire == 2 && !field.Type.StartsWith("msg:", StringComparison.Ordinal) && field.Type is not ("string" or "bytes"))
                {
                    // Packed scalars.
                    var packed = new Reader(reader.Bytes());
                    while (!packed.AtEnd)
                    {
                        array.Add(ReadScalar(packed, field.Type, WireOf(field.Type)));
                    }
                }
                else
                {
                    array.Add(ReadValue(reader, field.Type, wire) ?? ZeroOf(field.Type));
                }
                continue;
            }
            var v = ReadValue(reader, field.Type, wire);
            if (field.Inline && v is JsonObject inline)
            {
                foreach (var (name, value) in inline.ToList())
                {
                    inline.Remove(name);
                    obj[name] = value;
                }
                continue;
            }
            if (v is null && !field.Type.StartsWith("msg:", StringComparison.Ordinal))
            {
                if (MeaningfulZero.Contains(field.Name))
                {
                    obj[field.Name] = ZeroOf(field.Type);
                }
                else
                {
                    obj.Remove(field.Name);
                }
                continue;
            }
            obj[field.Name] = v;
        }
        return obj;
    }

    private static int WireOf(string type) => type switch
    {
        "double" => 1,
        "float" => 5,
        _ => 0,
    };

    private static JsonNode? ZeroOf(string type) => type switch
    {
        "string" or "bytes" => JsonValue.Create(string.Empty),
        "bool" => JsonValue.Create(false),
        _ when type.StartsWith("msg:", StringComparison.Ordinal) => new JsonObject(),
        _ => JsonValue.Create(0L),
    };

    /// <summary>Reads one value; returns null for a scalar zero value (the caller decides whether it is kept).</summary>
    private static JsonNode? ReadValue(Reader reader, string type, int wire)
    {
        if (!type.StartsWith("msg:", StringComparison.Ordinal))
        {
            var scalar = ReadScalar(reader, type, wire);
            return IsZero(scalar) ? null : scalar;
        }
        var message = type[4..];
        var bytes = reader.Bytes();
        return message switch
        {
            "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => Time(bytes, micro: false),
            "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => Time(bytes, micro: true),
            "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Duration(bytes),
            "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => IntOrString(bytes),
            "k8s.io.apimachinery.pkg.api.resource.Quantity" => FirstString(bytes),
            "k8s.io.apimachinery.pkg.runtime.RawExtension" or "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => RawJson(bytes),
            _ => DecodeMessage(bytes, message),
        };
    }

    private static JsonNode? ReadScalar(Reader reader, string type, int wire) => type switch
    {
        "string" => JsonValue.Create(Encoding.UTF8.GetString(reader.Bytes())),
        "bytes" => JsonValue.Create(Convert.ToBase64String(reader.Bytes())),
        "bool" => JsonValue.Create(reader.Varint() != 0),
        "int32" => JsonValue.Create((long)(int)reader.Varint()),
        "int64" => JsonValue.Create((long)reader.Varint()),
        "uint32" or "uint64" => JsonValue.Create(reader.Varint()),
        "double" => JsonValue.Create(BitConverter.Int64BitsToDouble((long)reader.Fixed64())),
        "float" => JsonValue.Create((double)BitConverter.Int32BitsToSingle((int)reader.Fixed32())),
        _ => throw new FormatException($"unsupported protobuf type {type} (wire type {wire})"),
    };

    private static bool IsZero(JsonNode? node) => node switch
    {
        null => true,
        JsonValue v when v.TryGetValue<string>(out var s) => s.Length == 0,
        JsonValue v when v.TryGetValue<bool>(out var b) => !b,
        JsonValue v when v.TryGetValue<long>(out var l) => l == 0,
        JsonValue v when v.TryGetValue<ulong>(out var u) => u == 0,
        JsonValue v when v.TryGetValue<double>(out var d) => d == 0,
        _ => false,
    };

    private static JsonNode? Time(byte[] bytes, bool micro)
    {
        long seconds = 0, nanos = 0;
        var r = new Reader(bytes);
        while (!r.AtEnd)
        {
            var (f, w) = r.Tag();
            if (f == 1)
            {
                seconds = (long)r.Varint();
            }
            else if (f == 2)
            {
                nanos = (long)r.Varint();
            }
            else
            {
                r.Skip(w);
            }
        }
        if (seconds == 0 && nanos == 0)
        {
            return null;
        }
        var t = DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(nanos / 100).UtcDateTime;
        return JsonValue.Create(t.ToString(micro ? "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'" : "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
    }

    private static JsonNode Duration(byte[] bytes)
    {
        var r = new Reader(bytes);
        long ns = 0;
        while (!r.AtEnd)
        {
            var (f, w) = r.Tag();
            if (f == 1)
            {
                ns = (long)r.Varint();
            }
            else
            {
                r.Skip(w);
            }
        }
        var ts = TimeSpan.FromTicks(ns / 100);
        var text = ts.TotalHours >= 1 ? $"{(int)ts.TotalHours}h{ts.Minutes}m{ts.Seconds}s" : ts.TotalMinutes >= 1 ? $"{ts.Minutes}m{ts.Seconds}s" : $"{ts.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s";
        return JsonValue.Create(text);
    }

    private static JsonNode? IntOrString(byte[] bytes)
    {
        long type = 0, intVal = 0;
        var strVal = string.Empty;
        var r = new Reader(bytes);
        while (!r.AtEnd)
        {
            var (f, w) = r.Tag();
            switch (f)
            {
                case 1:
                    type = (long)r.Varint();
                    break;
                case 2:
                    intVal = (int)r.Varint();
                    break;
                case 3:
                    strVal = Encoding.UTF8.GetString(r.Bytes());
                    break;
                default:
                    r.Skip(w);
                    break;
            }
        }
        if (type == 1)
        {
            return JsonValue.Create(strVal);
        }
        return intVal == 0 ? null : JsonValue.Create(intVal);
    }

    private static JsonNode? FirstString(byte[] bytes)
    {
        var r = new Reader(bytes);
        while (!r.AtEnd)
        {
            var (f, w) = r.Tag();
            if (f == 1 && w == 2)
            {
                return JsonValue.Create(Encoding.UTF8.GetString(r.Bytes()));
            }
            r.Skip(w);
        }
        return null;
    }

    private static JsonNode? RawJson(byte[] bytes)
    {
        var r = new Reader(bytes);
        while (!r.AtEnd)
        {
            var (f, w) = r.Tag();
            if (f == 1 && w == 2)
            {
                var raw = r.Bytes();
                return raw.Length == 0 ? null : JsonLimits.Parse(raw);
            }
            r.Skip(w);
        }
        return null;
    }

    /// <summary>A protobuf wire-format reader over one buffer.</summary>
    private sealed class Reader(byte[] data)
    {
        private int _pos;

        public bool AtEnd => _pos >= data.Length;

        public (int Field, int Wire) Tag()
        {
            var tag = Varint();
            var field = (int)(tag >> 3);
            if (field <= 0)
            {
                throw new FormatException("invalid protobuf field number 0");
            }
            return (field, (int)(tag & 7));
        }

        public ulong Varint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 70; shift += 7)
            {
                if (_pos >= data.Length)
                {
                    throw new FormatException("unexpected end of protobuf data");
                }
                var b = data[_pos++];
                result |= (ulong)(b & 0x7f) << shift;
                if ((b & 0x80) == 0)
                {
                    return result;
                }
            }
            throw new FormatException("protobuf varint is too long");
        }

        public ulong Fixed64()
        {
            Need(8);
            var v = BitConverter.ToUInt64(data, _pos);
            _pos += 8;
            return v;
        }

        public uint Fixed32()
        {
            Need(4);
            var v = BitConverter.ToUInt32(data, _pos);
            _pos += 4;
            return v;
        }

        public byte[] Bytes()
        {
            var len = Varint();
            if (len > (ulong)(data.Length - _pos))
            {
                throw new FormatException("protobuf length runs past the end of the data");
            }
            var result = data.AsSpan(_pos, (int)len).ToArray();
            _pos += (int)len;
            return result;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0:
                    Varint();
                    break;
                case 1:
                    Need(8);
                    _pos += 8;
                    break;
                case 2:
                    Bytes();
                    break;
                case 5:
                    Need(4);
                    _pos += 4;
                    break;
                default:
                    throw new FormatException($"unsupported protobuf wire type {wire}");
            }
        }

        private void Need(int n)
        {
            if (_pos + n > data.Length)
            {
                throw new FormatException("unexpected end of protobuf data");
            }
        }
    }
}
