using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Tugboat.Api.Patch;

namespace Tugboat.Api.Apply;

/// <summary>How server-side apply treats the items of a list: replaced whole, merged by key fields, or as a set of values.</summary>
public enum ListKind
{
    Atomic,
    Map,
    Set,
}

/// <summary>
/// What server-side apply needs to know about the type of a value: whether it is owned as a whole, the types of its
/// fields or map values, and how its list items are identified. Values of unknown type are treated as upstream treats
/// schemaless values: objects are maps whose keys are owned separately, lists are atomic.
/// </summary>
public abstract class FieldType
{
    /// <summary>A value of no known type.</summary>
    public static FieldType Untyped { get; } = new UntypedType();

    /// <summary>Whether the value is replaced and owned as one field (scalars, atomic structs, maps and lists).</summary>
    public virtual bool Atomic => false;

    /// <summary>Whether objects of this type are structs with declared fields rather than maps.</summary>
    public virtual bool IsStruct => false;

    /// <summary>The type of a field of a struct, or of a value of a map.</summary>
    public virtual FieldType Field(string name) => Untyped;

    /// <summary>Whether <paramref name="name"/> is a declared field of a struct (map keys are not).</summary>
    public virtual bool Declares(string name) => false;

    public virtual ListKind ListKind => ListKind.Atomic;

    /// <summary>The fields that identify an item of a map list.</summary>
    public virtual IReadOnlyList<string> ListKeys => [];

    public virtual FieldType Item => Untyped;

    /// <summary>The type of the built-in kind <paramref name="apiVersion"/>/<paramref name="kind"/>, or null for kinds the schema table does not know.</summary>
    public static FieldType? Builtin(string apiVersion, string kind) =>
        PatchMeta.Instance.DefinitionOf(apiVersion, kind) is { } definition ? DefinitionType.Of(definition) : null;

    /// <summary>The type of a custom resource validated by a structural OpenAPI v3 schema (metadata follows ObjectMeta).</summary>
    public static FieldType CustomResource(JsonObject schema) => new CustomResourceRoot(schema);

    private sealed class UntypedType : FieldType
    {
    }

    private sealed class ScalarType : FieldType
    {
        public static readonly ScalarType Instance = new();

        public override bool Atomic => true;
    }

    /// <summary>A struct of the built-in schema table.</summary>
    private sealed class DefinitionType : FieldType
    {
        private static readonly ConcurrentDictionary<string, DefinitionType> Cache = new(StringComparer.Ordinal);
        private static readonly ConcurrentDictionary<PatchField, FieldType> FieldTypes = new(ReferenceEqualityComparer.Instance);
        private readonly IReadOnlyDictionary<string, PatchField>? _fields;
        private readonly bool _atomic;

        private DefinitionType(string definition, bool atomic)
        {
            _fields = PatchMeta.Instance.Fields(definition);
            _atomic = atomic || PatchMeta.Instance.IsAtomic(definition);
        }

        public static DefinitionType Of(string definition, bool atomic = false) =>
            Cache.GetOrAdd(atomic ? definition + " atomic" : definition, _ => new DefinitionType(definition, atomic));

        public override bool Atomic => _atomic;

        public override bool IsStruct => true;

        public override bool Declares(string name) => _fields is not null && _fields.ContainsKey(name);

        public override FieldType Field(string name) =>
            _fields is not null && _fields.TryGetValue(name, out var field) ? FieldTypes.GetOrAdd(field, Build) : Untyped;

        private static FieldType Build(PatchField field) => field.Shape switch
        {
            "object" when field.Item is not null => Of(field.Item, field.AtomicMap),
            "list" => new BuiltinList(field),
            "map" => new MapType(ItemType(field.Item), field.AtomicMap),
            "any" => Untyped,
            _ => ScalarType.Instance,
        };

        public static FieldType ItemType(string? item) => item switch
        {
            null or "any" => Untyped,
            "string" or "integer" or "number" or "boolean" => ScalarType.Instance,
            _ => Of(item),
        };
    }

    /// <summary>A list of the built-in schema: its declared list type, or (as upstream derives it) the patch strategy.</summary>
    private sealed class BuiltinList : FieldType
    {
        private readonly FieldType _item;
        private readonly ListKind _kind;
        private readonly IReadOnlyList<string> _keys;

        public BuiltinList(PatchField field)
        {
            _item = DefinitionType.ItemType(field.Item);
            (_kind, _keys) = field.ListType switch
            {
                "map" => (ListKind.Map, (IReadOnlyList<string>)field.ListKeys),
                "set" => (ListKind.Set, []),
                "atomic" => (ListKind.Atomic, []),
                _ when field.Merge && field.MergeKey is not null => (ListKind.Map, [field.MergeKey]),
                _ when field.Merge => (ListKind.Set, []),
                _ => (ListKind.Atomic, []),
            };
        }

        public override ListKind ListKind => _kind;

        public override IReadOnlyList<string> ListKeys => _keys;

        public override FieldType Item => _item;

        public override bool Atomic => _kind == ListKind.Atomic;
    }

    /// <summary>A map whose keys are owned separately unless it is atomic.</summary>
    private sealed class MapType(FieldType values, bool atomic) : FieldType
    {
        public override bool Atomic => atomic;

        public override FieldType Field(string name) => values;
    }

    /// <summary>A value described by a structural OpenAPI v3 schema.</summary>
    private sealed class SchemaType(JsonObject schema) : FieldType
    {
        private string? Type => schema["type"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

        private string? Extension(string name) => schema[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

        public override bool Atomic => Type switch
        {
            "object" => Extension("x-kubernetes-map-type") == "atomic",
            "array" => ListKind == ListKind.Atomic,
            null => schema["properties"] is null && schema["additionalProperties"] is not JsonObject && schema["items"] is null
                && !(schema["x-kubernetes-preserve-unknown-fields"] is JsonValue p && p.TryGetValue<bool>(out var b) && b),
            _ => true,
        };

        public override bool IsStruct => schema["properties"] is JsonObject;

        public override bool Declares(string name) => schema["properties"] is JsonObject props && props.ContainsKey(name);

        public override FieldType Field(string name)
        {
            if (schema["properties"] is JsonObject props && props[name] is JsonObject field)
            {
                return new SchemaType(field);
            }
            return schema["additionalProperties"] is JsonObject additional ? new SchemaType(additional) : Untyped;
        }

        public override ListKind ListKind => Extension("x-kubernetes-list-type") switch
        {
            "map" => ListKind.Map,
            "set" => ListKind.Set,
            _ => ListKind.Atomic,
        };

        public override IReadOnlyList<string> ListKeys =>
            schema["x-kubernetes-list-map-keys"] is JsonArray keys ? keys.Select(k => k!.GetValue<string>()).ToArray() : [];

        public override FieldType Item => schema["items"] is JsonObject items ? new SchemaType(items) : Untyped;
    }

    private sealed class CustomResourceRoot(JsonObject schema) : FieldType
    {
        private readonly SchemaType _schema = new(schema);

        public override bool IsStruct => true;

        public override bool Declares(string name) => name is "apiVersion" or "kind" or "metadata" || _schema.Declares(name);

        public override FieldType Field(string name) => name switch
        {
            "metadata" => DefinitionType.Of("v1.ObjectMeta"),
            "apiVersion" or "kind" => ScalarType.Instance,
            _ => _schema.Field(name),
        };
    }
}
