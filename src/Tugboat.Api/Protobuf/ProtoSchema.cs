namespace Tugboat.Api.Protobuf;

/// <summary>
/// The Kubernetes API's protobuf message layouts (field numbers, names, types), loaded from the table that
/// tools/ProtoSchemaGen extracts from the upstream descriptors.
/// </summary>
public sealed class ProtoSchema
{
    /// <summary>
    /// Fields that Go embeds inline (<c>json:",inline"</c>): in protobuf they are a nested message, in JSON their fields
    /// sit in the parent object. The descriptors cannot tell; this list comes from comparing them with the OpenAPI schema.
    /// </summary>
    private static readonly HashSet<string> InlineFields = new(StringComparer.Ordinal)
    {
        "k8s.io.api.core.v1.Probe.handler",
        "k8s.io.api.core.v1.Volume.volumeSource",
        "k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource",
        "k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon",
        "k8s.io.api.core.v1.ConfigMapEnvSource.localObjectReference",
        "k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference",
        "k8s.io.api.core.v1.ConfigMapProjection.localObjectReference",
        "k8s.io.api.core.v1.ConfigMapVolumeSource.localObjectReference",
        "k8s.io.api.core.v1.SecretEnvSource.localObjectReference",
        "k8s.io.api.core.v1.SecretKeySelector.localObjectReference",
        "k8s.io.api.core.v1.SecretProjection.localObjectReference",
        "k8s.io.api.networking.v1.IngressRule.ingressRuleValue",
        "k8s.io.api.admissionregistration.v1.RuleWithOperations.rule",
    };

    private readonly Dictionary<string, Dictionary<int, ProtoField>> _messages;

    private ProtoSchema(Dictionary<string, Dictionary<int, ProtoField>> messages) => _messages = messages;

    public static ProtoSchema Instance { get; } = Load();

    public bool TryGetMessage(string name, out IReadOnlyDictionary<int, ProtoField> fields)
    {
        var found = _messages.TryGetValue(name, out var f);
        fields = f ?? (IReadOnlyDictionary<int, ProtoField>)new Dictionary<int, ProtoField>();
        return found;
    }

    private static ProtoSchema Load()
    {
        using var stream = typeof(ProtoSchema).Assembly.GetManifestResourceStream("Tugboat.Api.proto-schema.txt")
            ?? throw new InvalidOperationException("the protobuf schema table is missing from Tugboat.Api");
        using var reader = new StreamReader(stream);
        var messages = new Dictionary<string, Dictionary<int, ProtoField>>(StringComparer.Ordinal);
        Dictionary<int, ProtoField>? current = null;
        var currentName = string.Empty;
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith("M ", StringComparison.Ordinal))
            {
                current = [];
                currentName = line[2..];
                messages[currentName] = current;
            }
            else if (line.StartsWith("F ", StringComparison.Ordinal) && current is not null)
            {
                var parts = line.Split(' ');
                var number = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                current[number] = ProtoField.Parse(number, parts[2], parts[3]) with { Inline = InlineFields.Contains(currentName + "." + parts[2]) };
            }
        }
        return new ProtoSchema(messages);
    }
}

/// <summary>
/// One field: its JSON name, whether it repeats, its type, for maps the key and value types, and whether JSON embeds
/// the field's message inline in the parent.
/// </summary>
public sealed record ProtoField(int Number, string Name, bool Repeated, string Type, string? MapKey, string? MapValue)
{
    public bool Inline { get; init; }

    public static ProtoField Parse(int number, string name, string type)
    {
        if (type.StartsWith("map:", StringComparison.Ordinal))
        {
            var rest = type[4..];
            var colon = rest.IndexOf(':');
            return new ProtoField(number, name, false, "map", rest[..colon], rest[(colon + 1)..]);
        }
        var repeated = type.StartsWith('*');
        return new ProtoField(number, name, repeated, repeated ? type[1..] : type, null, null);
    }
}
