using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry;

/// <summary>How names of a kind are validated.</summary>
internal enum NameRule
{
    Subdomain,
    Label,
    Dns1035Label,
    PathSegment,
}

/// <summary>
/// The per-kind behaviour of the generic registry, as upstream's rest strategies: defaulting, create/update preparation,
/// validation, table columns and selectable fields. Base implementations fit a kind with no spec/status split.
/// </summary>
internal abstract class Strategy
{
    public virtual NameRule NameRule => NameRule.Subdomain;

    /// <summary>Kinds with a spec get <c>metadata.generation</c>, bumped when anything but metadata and status changes.</summary>
    public virtual bool TracksGeneration => false;

    /// <summary>Whether a PUT of a missing object creates it.</summary>
    public virtual bool AllowCreateOnUpdate => false;

    /// <summary>Prepares a new object (e.g. resets status); runs before defaulting and validation.</summary>
    public virtual void PrepareForCreate(JsonObject obj, RequestContext ctx)
    {
    }

    /// <summary>Upstream's defaulting for this kind (SetDefaults_* and defaulting admission).</summary>
    public virtual void Default(JsonObject obj)
    {
    }

    public virtual void Validate(JsonObject obj, List<FieldError> errors)
    {
    }

    /// <summary>
    /// Defaulting for a status or binding write, which keeps everything of the stored object but its own part; by
    /// default the same as <see cref="Default"/>.
    /// </summary>
    public virtual void DefaultSubresource(JsonObject obj) => Default(obj);

    /// <summary>The checks for a status or binding write; by default the same as <see cref="Validate"/>.</summary>
    public virtual void ValidateSubresource(JsonObject obj, List<FieldError> errors) => Validate(obj, errors);

    /// <summary>Checks an update against the stored object (immutable fields and the like).</summary>
    public virtual void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
    }

    /// <summary>Fills fields the server owns on update (e.g. allocated addresses a client left out).</summary>
    public virtual void PrepareForUpdate(JsonObject obj, JsonObject old)
    {
    }

    /// <summary>
    /// Refuses a delete the kind never allows (upstream's admission does this, e.g. the system namespaces); runs for dry
    /// runs too, before anything is read or written.
    /// </summary>
    public virtual void CheckDelete(string name)
    {
    }

    public abstract IReadOnlyList<Column> Columns { get; }

    /// <summary>Fields this kind supports in field selectors, beyond metadata.name and metadata.namespace.</summary>
    public virtual IReadOnlyCollection<string> SelectableFields => [];

    /// <summary>The value of a selectable field; only called for supported fields.</summary>
    public virtual string? GetField(JsonObject obj, string field) => null;

    /// <summary>Removes the fields the kind does not define and returns their paths (built-in kinds: their protobuf fields).</summary>
    public virtual List<string> Prune(JsonObject obj, string apiVersion, string kind) => Tugboat.Api.Schema.UnknownFields.Prune(obj, apiVersion, kind);

    /// <summary>Called (under the registry's create path) when a value must be allocated, e.g. a cluster IP.</summary>
    public virtual Task AllocateAsync(JsonObject obj, JsonObject? old, RequestContext ctx) => Task.CompletedTask;
}
