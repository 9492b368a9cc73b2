using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class NodeStrategy : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Status", "The status of the node", Status),
        Column.Text("Roles", "The roles of the node", Roles),
        Column.Age(),
        Column.Text("Version", "Kubelet Version reported by the node.", o => o.Str("status", "nodeInfo", "kubeletVersion") ?? string.Empty),
        Column.Text("Internal-IP", "List of internal IPs.", o => Address(o, "InternalIP"), 1),
        Column.Text("External-IP", "List of external IPs.", o => Address(o, "ExternalIP"), 1),
        Column.Text("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", o => Info(o, "osImage"), 1),
        Column.Text("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", o => Info(o, "kernelVersion"), 1),
        Column.Text("Container-Runtime", "Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).", o => Info(o, "containerRuntimeVersion"), 1),
    ];

    public override IReadOnlyCollection<string> SelectableFields { get; } = ["spec.unschedulable"];

    public override string? GetField(JsonObject obj, string field) =>
        field == "spec.unschedulable" ? ((obj.Bool("spec", "unschedulable") ?? false) ? "true" : "false") : null;

    public override bool TracksGeneration => false;

    private static string Status(JsonObject node)
    {
        var ready = node.Arr("status", "conditions").Objects().FirstOrDefault(c => c.Str("type") == "Ready");
        // As upstream's printer: any Ready status but True (False or Unknown) is NotReady; no condition at all is Unknown.
        var status = ready is null ? "Unknown" : ready.Str("status") == "True" ? "Ready" : "NotReady";
        return node.Bool("spec", "unschedulable") == true ? status + ",SchedulingDisabled" : status;
    }

    private static string Roles(JsonObject node)
    {
        var roles = node.Labels().Keys
            .Where(k => k.StartsWith("node-role.kubernetes.io/", StringComparison.Ordinal))
            .Select(k => k["node-role.kubernetes.io/".Length..])
            .Concat(node.Labels().TryGetValue("kubernetes.io/role", out var r) ? [r] : [])
            .Where(r => r.Length > 0)
            .Order(StringComparer.Ordinal)
            .ToList();
        return roles.Count == 0 ? Cells.None : string.Join(",", roles);
    }

    private static string Address(JsonObject node, string type)
    {
        var ips = node.Arr("status", "addresses").Objects().Where(a => a.Str("type") == type).Select(a => a.Str("address") ?? string.Empty).ToList();
        return ips.Count == 0 ? Cells.None : string.Join(",", ips);
    }

    private static string Info(JsonObject node, string field) => node.Str("status", "nodeInfo", field) is { Length: > 0 } v ? v : "<unknown>";
}
