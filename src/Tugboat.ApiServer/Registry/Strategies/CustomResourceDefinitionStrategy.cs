using System.Text.Json.Nodes;
using Tugboat.Api.Validation;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>apiextensions.k8s.io/v1 CustomResourceDefinition: names, scope, versions and their structural schemas.</summary>
internal sealed class CustomResourceDefinitionStrategy : Strategy
{
    public const string CleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io";

    public override bool TracksGeneration => true;

    public override IReadOnlyList<Column> Columns { get; } = [Column.Name_(), TableStrategy.CreatedAt()];

    public override void PrepareForCreate(JsonObject obj, RequestContext ctx)
    {
        obj["status"] = new JsonObject
        {
            ["conditions"] = new JsonArray(),
            ["acceptedNames"] = new JsonObject { ["plural"] = string.Empty, ["kind"] = string.Empty },
            ["storedVersions"] = new JsonArray(),
        };
        var finalizers = obj.Meta()["finalizers"] as JsonArray ?? new JsonArray();
        if (!finalizers.Any(f => f?.GetValue<string>() == CleanupFinalizer))
        {
            finalizers.Add(CleanupFinalizer);
        }
        obj.Meta()["finalizers"] = finalizers;
    }

    public override void Default(JsonObject obj)
    {
        var spec = obj.Ensure("spec");
        var names = spec.Ensure("names");
        if (names.Str("kind") is { } kind)
        {
            names.Default("singular", kind.ToLowerInvariant());
            names.Default("listKind", kind + "List");
        }
        spec.Default("conversion", new JsonObject { ["strategy"] = "None" });
        foreach (var v in spec.Arr("versions").Objects())
        {
            v.Default("served", true);
            v.Default("storage", false);
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var spec = obj.Obj("spec") ?? [];
        var group = spec.Str("group");
        var plural = spec.Str("names", "plural");
        TableStrategy.Require(obj, errors, "spec.group", "spec.names.plural", "spec.names.kind", "spec.scope");
        if (group is not null)
        {
            foreach (var e in Names.ValidateDns1123Subdomain(group))
            {
                errors.Add(FieldError.Invalid("spec.group", group, e));
            }
            if (!group.Contains('.'))
            {
                errors.Add(FieldError.Invalid("spec.group", group, "should be a domain with at least one dot"));
            }
        }
        if (plural is not null && group is not null && obj.Str("metadata", "name") != plural + "." + group)
        {
            errors.Add(FieldError.Invalid("metadata.name", obj.Str("metadata", "name"), "must be spec.names.plural+\".\"+spec.group"));
        }
        if (spec.Str("scope") is { } scope && scope is not ("Namespaced" or "Cluster"))
        {
            errors.Add(FieldError.NotSupported("spec.scope", scope, ["Cluster", "Namespaced"]));
        }
        var versions = spec.Arr("versions").Objects().ToList();
        if (versions.Count == 0)
        {
            errors.Add(FieldError.Invalid("spec.versions", new JsonArray(), "must have exactly one version marked as storage version"));
        }
        else if (versions.Count(v => v.Bool("storage") == true) != 1)
        {
            errors.Add(FieldError.Invalid("spec.versions", null, "must have exactly one version marked as storage version"));
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < versions.Count; i++)
        {
            var v = versions[i];
            var name = v.Str("name");
            if (string.IsNullOrEmpty(name))
            {
                errors.Add(FieldError.Required($"spec.versions[{i}].name"));
            }
            else if (!seen.Add(name))
            {
                errors.Add(FieldError.Duplicate($"spec.versions[{i}].name", name));
            }
            var schema = v.Obj("schema", "openAPIV3Schema");
            if (schema is null)
            {
                errors.Add(FieldError.Required($"spec.versions[{i}].schema.openAPIV3Schema", "schemas are required"));
            }
            else if (schema.Str("type") != "object")
            {
                errors.Add(FieldError.Required($"spec.versions[{i}].schema.openAPIV3Schema.type", "must not be empty at the root"));
            }
            if (v.Obj("subresources", "scale") is { } scale && scale.Str("specReplicasPath") is null)
            {
                errors.Add(FieldError.Required($"spec.versions[{i}].subresources.scale.specReplicasPath"));
            }
        }
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        if (obj.Str("spec", "group") != old.Str("spec", "group"))
        {
            errors.Add(FieldError.Invalid("spec.group", obj.Str("spec", "group"), "field is immutable"));
        }
        if (obj.Str("spec", "names", "plural") != old.Str("spec", "names", "plural"))
        {
            errors.Add(FieldError.Invalid("spec.names.plural", obj.Str("spec", "names", "plural"), "field is immutable"));
        }
    }
}
