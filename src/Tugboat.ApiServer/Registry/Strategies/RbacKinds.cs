using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>rbac.authorization.k8s.io/v1: roles, cluster roles and their bindings (stored; enforcement comes with authorization).</summary>
internal static class RbacKinds
{
    private const string Group = "rbac.authorization.k8s.io";

    public static IEnumerable<ResourceType> All() =>
    [
        new() { Group = Group, Version = "v1", Kind = "Role", Plural = "roles", Namespaced = true, Strategy = Roles() },
        new() { Group = Group, Version = "v1", Kind = "ClusterRole", Plural = "clusterroles", Namespaced = false, Strategy = Roles() },
        new() { Group = Group, Version = "v1", Kind = "RoleBinding", Plural = "rolebindings", Namespaced = true, Strategy = Bindings() },
        new() { Group = Group, Version = "v1", Kind = "ClusterRoleBinding", Plural = "clusterrolebindings", Namespaced = false, Strategy = Bindings() },
    ];

    private static TableStrategy Roles() => new([Column.Name_(), TableStrategy.CreatedAt()])
    {
        Names = NameRule.PathSegment,
        Validation = (o, errors) =>
        {
            var i = 0;
            foreach (var rule in o.Arr("rules").Objects())
            {
                if (rule.Arr("verbs") is not { Count: > 0 })
                {
                    errors.Add(FieldError.Required($"rules[{i}].verbs", "verbs must contain at least one value"));
                }
                if (rule.Arr("nonResourceURLs") is { Count: > 0 } && o.Str("kind") == "Role")
                {
                    errors.Add(FieldError.Invalid($"rules[{i}].nonResourceURLs", rule["nonResourceURLs"]!.DeepClone(), "namespaced rules cannot apply to non-resource URLs"));
                }
                else if (rule.Arr("nonResourceURLs") is not { Count: > 0 } && rule.Arr("apiGroups") is not { Count: > 0 })
                {
                    errors.Add(FieldError.Required($"rules[{i}].apiGroups", "resource rules must supply at least one api group"));
                }
                i++;
            }
        },
    };

    private static TableStrategy Bindings() => new(
    [
        Column.Name_(),
        Column.Text("Role", "Role to which this binding refers.", o => $"{o.Str("roleRef", "kind")}/{o.Str("roleRef", "name")}"),
        Column.Age(),
        Column.Text("Users", "Users to which this binding applies.", o => Subjects(o, "User"), 1),
        Column.Text("Groups", "Groups to which this binding applies.", o => Subjects(o, "Group"), 1),
        Column.Text("ServiceAccounts", "Service accounts to which this binding applies.", o => Subjects(o, "ServiceAccount"), 1),
    ])
    {
        Names = NameRule.PathSegment,
        Defaults = o =>
        {
            foreach (var s in o.Arr("subjects").Objects())
            {
                if (s.Str("kind") is "User" or "Group")
                {
                    s.Default("apiGroup", Group);
                }
            }
        },
        Validation = (o, errors) =>
        {
            TableStrategy.Require(o, errors, "roleRef.kind", "roleRef.name");
            var kind = o.Str("roleRef", "kind");
            var allowed = o.Str("kind") == "ClusterRoleBinding" ? new[] { "ClusterRole" } : ["Role", "ClusterRole"];
            if (kind is not null && !allowed.Contains(kind))
            {
                errors.Add(FieldError.NotSupported("roleRef.kind", kind, allowed));
            }
            if (o.Str("roleRef", "apiGroup") is { } g && g != Group)
            {
                errors.Add(FieldError.NotSupported("roleRef.apiGroup", g, [Group]));
            }
            var i = 0;
            foreach (var s in o.Arr("subjects").Objects())
            {
                if (s.Str("kind") is not ("User" or "Group" or "ServiceAccount"))
                {
                    errors.Add(FieldError.NotSupported($"subjects[{i}].kind", s.Str("kind"), ["ServiceAccount", "User", "Group"]));
                }
                if (string.IsNullOrEmpty(s.Str("name")))
                {
                    errors.Add(FieldError.Required($"subjects[{i}].name"));
                }
                i++;
            }
        },
        Immutable = ["roleRef"],
    };

    private static string Subjects(JsonObject binding, string kind) =>
        string.Join(", ", binding.Arr("subjects").Objects().Where(s => s.Str("kind") == kind).Select(s =>
            kind == "ServiceAccount" ? $"{s.Str("namespace")}/{s.Str("name")}" : s.Str("name") ?? string.Empty));
}
