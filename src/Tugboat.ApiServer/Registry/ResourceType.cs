using Tugboat.Api.Apply;

namespace Tugboat.ApiServer.Registry;

/// <summary>One served resource: its group/version/kind, naming for discovery, subresources, and its strategy.</summary>
internal sealed class ResourceType
{
    public required string Group { get; init; }
    public required string Version { get; init; }
    public required string Kind { get; init; }
    public required string Plural { get; init; }
    public required bool Namespaced { get; init; }
    public required Strategy Strategy { get; init; }
    public string[] ShortNames { get; init; } = [];

    /// <summary>
    /// For an older version served over another version's storage (autoscaling/v1 over v2): the stored type and the
    /// conversion. Requests are converted to the stored version at the edge, and responses back.
    /// </summary>
    public ResourceType? StoredAs { get; init; }

    public IVersionConverter? Converter { get; init; }

    /// <summary>Served for a CustomResourceDefinition (stored under its group whatever the version, read back in the requested version).</summary>
    public bool IsCustom { get; init; }

    /// <summary>Where the scale subresource reads and writes: replicas in spec and status, and the label selector (null: from spec.selector).</summary>
    public string[] ScaleSpecReplicas { get; init; } = ["spec", "replicas"];

    public string[] ScaleStatusReplicas { get; init; } = ["status", "replicas"];

    public string[]? ScaleSelector { get; init; }

    /// <summary>Reviews (access, rules, identity) are answered from the request and never stored; they only support create.</summary>
    public bool IsReview { get; init; }

    /// <summary>Resource metrics (metrics.k8s.io) are read from the node agents when asked and never stored; get and list only.</summary>
    public bool IsMetrics { get; init; }

    /// <summary>Served from something other than the store (reviews, metrics): no storage, no namespace clean-up, no OpenAPI.</summary>
    public bool IsVirtual => IsReview || IsMetrics;

    public string[] Verbs => IsReview ? ["create"] : IsMetrics ? ["get", "list"] : AllVerbs;
    public string[] Categories { get; init; } = [];
    public bool HasStatus { get; init; }
    public bool HasScale { get; init; }
    /// <summary>The singular name in discovery: a CRD's <c>names.singular</c>, else the lower-cased kind.</summary>
    public string Singular
    {
        get => _singular ?? Kind.ToLowerInvariant();
        init => _singular = string.IsNullOrEmpty(value) ? null : value;
    }

    private readonly string? _singular;

    /// <summary>A deprecated CRD version's warning, sent as a Warning header with every response for it.</summary>
    public string? DeprecationWarning { get; init; }

    /// <summary>
    /// Discovery's storageVersionHash, as upstream computes it: the first 8 bytes of SHA-256 over
    /// "group/version/kind" of the stored version ("core" for the core group), base64-encoded; null for resources
    /// that are not stored.
    /// </summary>
    public string? StorageVersionHash
    {
        get
        {
            if (IsVirtual)
            {
                return null;
            }
            if (_storageVersionHash is null)
            {
                var stored = StoredAs ?? this;
                var gvk = (stored.Group.Length == 0 ? "core" : stored.Group) + "/" + (StorageVersion ?? stored.Version) + "/" + stored.Kind;
                _storageVersionHash = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(gvk)).AsSpan(0, 8));
            }
            return _storageVersionHash;
        }
    }

    private string? _storageVersionHash;

    /// <summary>For a custom resource: the definition's storage version (its objects are stored in it whatever version is served).</summary>
    public string? StorageVersion { get; init; }
    public string ApiVersion => Group.Length == 0 ? Version : Group + "/" + Version;
    public string ListKind => Kind + "List";

    /// <summary>The resource as upstream names it in messages: <c>pods</c>, <c>deployments.apps</c>.</summary>
    public string QualifiedName => Group.Length == 0 ? Plural : Plural + "." + Group;

    /// <summary>Store key prefix of every object of this resource.</summary>
    public string KeyPrefix => "/registry/" + (Group.Length == 0 ? string.Empty : Group + "/") + Plural + "/";

    public string Key(string? ns, string name) => Namespaced ? KeyPrefix + ns + "/" + name : KeyPrefix + name;

    public string CollectionPrefix(string? ns) => Namespaced && !string.IsNullOrEmpty(ns) ? KeyPrefix + ns + "/" : KeyPrefix;

    private FieldType? _fieldType;

    /// <summary>The type server-side apply and field ownership follow: the built-in schema, or a CRD's structural schema.</summary>
    public FieldType FieldType => _fieldType ??= Strategy is Strategies.CustomResourceStrategy custom
        ? FieldType.CustomResource(custom.Schema)
        : FieldType.Builtin(ApiVersion, Kind) ?? FieldType.Untyped;

    /// <summary>The top-level fields a write through <paramref name="subresource"/> may set, for field ownership.</summary>
    public Func<string, bool> TrackedFields(string subresource) => subresource switch
    {
        "status" => key => key == "status",
        _ when HasStatus => key => key != "status",
        _ => _ => true,
    };

    public static readonly string[] AllVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
}
