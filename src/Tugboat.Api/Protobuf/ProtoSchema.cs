namespace Tugboat.Api.Protobuf;

/// <summary>
/// The Kubernetes API's protobuf message layouts (field numbers, names, types), loaded from the table that
/// tools/ProtoSchemaGen extracts from the upstream descriptors.
/// </summary>
public sealed class ProtoSchema
{
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
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith("M ", StringComparison.Ordinal))
            {
                current = [];
                messages[line[2..]] = current;
            }
            else if (line.StartsWith("F ", StringComparison.Ordinal) && current is not null)
            {
                var parts = line.Split(' ');
                var number = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                current[number] = ProtoField.Parse(number, parts[2], parts[3]);
            }
        }
        return new ProtoSchema(messages);
    }
}

/// <summary>One field: its JSON name, whether it repeats, its type, and for maps the key and value types.</summary>
public sealed record ProtoField(int Number, string Name, bool Repeated, string Type, string? MapKey, string? MapValue)
{
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
