using System.Text.Json.Nodes;
using Tugboat.ApiServer.Registry;

namespace Tugboat.ApiServer.Http;

/// <summary>The legacy discovery documents: /api, /apis, /api/v1 and /apis/{group}/{version}.</summary>
internal sealed class Discovery(Catalog catalog)
{
    public JsonObject ApiVersions(string serverAddress) => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = serverAddress }),
    };

    public JsonObject GroupList() => new()
    {
        ["kind"] = "APIGroupList",
        ["apiVersion"] = "v1",
        ["groups"] = new JsonArray(Groups().Select(g => (JsonNode)Group(g)!).ToArray()),
    };

    private IEnumerable<string> Groups() => catalog.All.Select(t => t.Group).Where(g => g.Length > 0).Distinct();

    public JsonObject? Group(string group)
    {
        var versions = catalog.All.Where(t => t.Group == group).Select(t => t.Version).Distinct().ToList();
        if (versions.Count == 0)
        {
            return null;
        }
        JsonObject Gv(string v) => new() { ["groupVersion"] = group + "/" + v, ["version"] = v };
        return new JsonObject
        {
            ["kind"] = "APIGroup",
            ["apiVersion"] = "v1",
            ["name"] = group,
            ["versions"] = new JsonArray(versions.Select(v => (JsonNode)Gv(v)).ToArray()),
            ["preferredVersion"] = Gv(versions[0]),
        };
    }

    public JsonObject? ResourceList(string group, string version)
    {
        var types = catalog.All.Where(t => t.Group == group && t.Version == version).ToList();
        if (types.Count == 0)
        {
            return null;
        }
        var resources = new JsonArray();
        foreach (var t in types)
        {
            var main = new JsonObject
            {
                ["name"] = t.Plural,
                ["singularName"] = t.Singular,
                ["namespaced"] = t.Namespaced,
                ["kind"] = t.Kind,
                ["verbs"] = new JsonArray(t.Verbs.Select(v => (JsonNode)v).ToArray()),
            };
            if (t.StorageVersionHash is { } hash)
            {
                main["storageVersionHash"] = hash;
            }
            if (t.ShortNames.Length > 0)
            {
                main["shortNames"] = new JsonArray(t.ShortNames.Select(s => (JsonNode)s).ToArray());
            }
            if (t.Categories.Length > 0)
            {
                main["categories"] = new JsonArray(t.Categories.Select(s => (JsonNode)s).ToArray());
            }
            resources.Add(main);
            if (t.HasStatus)
            {
                resources.Add(Sub(t, "status", t.Kind, null, null, "get", "patch", "update"));
            }
            if (t.HasScale)
            {
                resources.Add(Sub(t, "scale", "Scale", "autoscaling", "v1", "get", "patch", "update"));
            }
            if (t.Group.Length == 0 && t.Kind == "Pod")
            {
                resources.Add(Sub(t, "binding", "Binding", null, null, "create"));
                // kubectl drain evicts (honouring disruption budgets) only where discovery lists this.
                resources.Add(Sub(t, "eviction", "Eviction", "policy", "v1", "create"));
            }
            if (t.Group.Length == 0 && t.Kind == "Namespace")
            {
                resources.Add(Sub(t, "finalize", "Namespace", null, null, "update"));
            }
        }
        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : group + "/" + version,
            ["resources"] = resources,
        };
    }

    private static JsonObject Sub(ResourceType t, string sub, string kind, string? group, string? version, params string[] verbs)
    {
        var o = new JsonObject
        {
            ["name"] = t.Plural + "/" + sub,
            ["singularName"] = string.Empty,
            ["namespaced"] = t.Namespaced,
        };
        if (group is not null)
        {
            o["group"] = group;
            o["version"] = version;
        }
        o["kind"] = kind;
        o["verbs"] = new JsonArray(verbs.Select(v => (JsonNode)v).ToArray());
        return o;
    }
}
