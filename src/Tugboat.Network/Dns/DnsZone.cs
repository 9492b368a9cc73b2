using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Tugboat.Network.Proxy;

namespace Tugboat.Network.Dns;

/// <summary>
/// The cluster's names, after the Kubernetes DNS specification (what CoreDNS's kubernetes plugin serves):
/// <list type="bullet">
/// <item><c>svc.ns.svc.DOMAIN</c>: A with the cluster IP; for a headless service, A with every ready endpoint; for
/// ExternalName, a CNAME to the external name.</item>
/// <item><c>_port._proto.svc.ns.svc.DOMAIN</c>: SRV for each named port (to the service name, or for headless
/// services to each endpoint's name); <c>svc.ns.svc.DOMAIN</c> SRV lists them all.</item>
/// <item><c>host.svc.ns.svc.DOMAIN</c> for endpoints of headless services: the endpoint's hostname, else its address
/// with dashes.</item>
/// <item><c>a-b-c-d.ns.pod.DOMAIN</c>: the address itself (CoreDNS's "pods insecure").</item>
/// <item>PTR for cluster IPs and headless endpoints.</item>
/// </list>
/// Names inside the domain that do not exist answer NXDOMAIN; names that exist without records of the asked type,
/// NOERROR with no answer. Names outside the domain are not the zone's (the server forwards them).
/// </summary>
public sealed class DnsZone
{
    /// <summary>CoreDNS's kubernetes plugin answers with a 5 second TTL.</summary>
    public const uint Ttl = 5;

    private readonly Dictionary<string, List<DnsRecord>> _records = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    private DnsZone(string domain)
    {
        Domain = domain;
        // As CoreDNS's kubernetes plugin: the serial is when the zone was last built.
        Soa = new DnsRecord(domain, DnsType.Soa, Ttl, $"ns.dns.{domain} hostmaster.{domain} {(uint)DateTimeOffset.UtcNow.ToUnixTimeSeconds()} 7200 1800 86400 {Ttl}");
    }

    public string Domain { get; }

    /// <summary>The zone's SOA record: the answer to an SOA question for the domain, and the authority of negative answers.</summary>
    public DnsRecord Soa { get; }

    public static DnsZone Empty(string domain) => new(domain.TrimEnd('.').ToLowerInvariant());

    public static DnsZone Build(IEnumerable<JsonObject> services, IEnumerable<JsonObject> slices, string domain)
    {
        var zone = Empty(domain);
        domain = zone.Domain;
        zone.AddName($"svc.{domain}");
        zone.AddName($"pod.{domain}");
        var slicesByService = ServiceTable.SlicesByService(slices);
        foreach (var svc in services)
        {
            var ns = svc["metadata"]!["namespace"]!.GetValue<string>();
            var name = svc["metadata"]!["name"]!.GetValue<string>();
            var spec = svc["spec"] as JsonObject;
            var type = spec?["type"]?.GetValue<string>() ?? "ClusterIP";
            var fqdn = $"{name}.{ns}.svc.{domain}";
            zone.AddName($"{ns}.svc.{domain}");
            zone.AddName($"{ns}.pod.{domain}");
            if (type == "ExternalName")
            {
                if (spec?["externalName"]?.GetValue<string>() is { Length: > 0 } external)
                {
                    zone.Add(new DnsRecord(fqdn, DnsType.Cname, Ttl, external.TrimEnd('.').ToLowerInvariant()));
                }
                continue;
            }
            var clusterIp = spec?["clusterIP"]?.GetValue<string>();
            var ports = spec?["ports"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
            if (!string.IsNullOrEmpty(clusterIp) && clusterIp != "None")
            {
                zone.AddName(fqdn);
                foreach (var ip in spec?["clusterIPs"]?.AsArray().Select(i => i!.GetValue<string>()) ?? [clusterIp])
                {
                    zone.AddAddress(fqdn, ip);
                }
                foreach (var port in ports)
                {
                    zone.AddSrv(fqdn, port, [(fqdn, 100)]);
                }
                continue;
            }
            // Headless: the endpoints themselves, each under its own name.
            zone.AddName(fqdn);
            var endpoints = new List<(string Name, string Ip)>();
            foreach (var slice in slicesByService.GetValueOrDefault($"{ns}/{name}") ?? [])
            {
                foreach (var ep in slice["endpoints"]?.AsArray().OfType<JsonObject>() ?? [])
                {
                    if (ep["conditions"]?["ready"]?.GetValue<bool>() == false)
                    {
                        continue;
                    }
                    foreach (var ip in ep["addresses"]?.AsArray().Select(a => a!.GetValue<string>()) ?? [])
                    {
                        var host = ep["hostname"]?.GetValue<string>() is { Length: > 0 } h ? h.ToLowerInvariant() : ip.Replace('.', '-').Replace(':', '-');
                        endpoints.Add(($"{host}.{fqdn}", ip));
                    }
                }
            }
            foreach (var (endpointName, ip) in endpoints.DistinctBy(e => e.Ip))
            {
                zone.AddAddress(fqdn, ip);
                zone.AddAddress(endpointName, ip);
            }
            if (endpoints.Count > 0)
            {
                var weight = Math.Max(1, 100 / endpoints.Count);
                foreach (var port in ports)
                {
                    zone.AddSrv(fqdn, port, endpoints.Select(e => (e.Name, weight)).ToList());
                }
            }
        }
        return zone;
    }

    private void AddName(string name)
    {
        // Every suffix inside the domain exists too (an empty non-terminal answers NOERROR, not NXDOMAIN).
        for (var n = name; n.Length > Domain.Length; n = n[(n.IndexOf('.') + 1)..])
        {
            if (!_names.Add(n))
            {
                break;
            }
        }
    }

    private void Add(DnsRecord record)
    {
        AddName(record.Name);
        if (!_records.TryGetValue(record.Name, out var list))
        {
            _records[record.Name] = list = [];
        }
        if (!list.Contains(record))
        {
            list.Add(record);
        }
    }

    private void AddAddress(string name, string ip)
    {
        if (!IPAddress.TryParse(ip, out var address))
        {
            return;
        }
        Add(new DnsRecord(name, address.AddressFamily == AddressFamily.InterNetworkV6 ? DnsType.Aaaa : DnsType.A, Ttl, address.ToString()));
        Add(new DnsRecord(ReverseName(address), DnsType.Ptr, Ttl, name));
    }

    /// <summary>SRV records for a named port, at <c>_port._proto.NAME</c> and at the service name itself.</summary>
    private void AddSrv(string fqdn, JsonObject port, List<(string Target, int Weight)> targets)
    {
        if (port["name"]?.GetValue<string>() is not { Length: > 0 } portName)
        {
            return;
        }
        var number = port["port"]!.GetValue<long>();
        var proto = (port["protocol"]?.GetValue<string>() ?? "TCP").ToLowerInvariant();
        foreach (var (target, weight) in targets)
        {
            var data = $"0 {weight} {number} {target}";
            Add(new DnsRecord($"_{portName.ToLowerInvariant()}._{proto}.{fqdn}", DnsType.Srv, Ttl, data));
            Add(new DnsRecord(fqdn, DnsType.Srv, Ttl, data));
        }
    }

    private static string ReverseName(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return $"{bytes[3]}.{bytes[2]}.{bytes[1]}.{bytes[0]}.in-addr.arpa";
        }
        return string.Join('.', bytes.Reverse().SelectMany(b => new[] { (b & 0xf).ToString("x"), (b >> 4).ToString("x") })) + ".ip6.arpa";
    }

    /// <summary>True when the name belongs to this zone (the cluster domain, or a reverse name it has records for).</summary>
    public bool IsAuthoritativeFor(string name) =>
        name == Domain || name.EndsWith("." + Domain, StringComparison.Ordinal) || (_records.ContainsKey(name) && name.EndsWith(".arpa", StringComparison.Ordinal));

    /// <summary>Answers a question about a name of the zone: the response code and the records (with CNAMEs followed inside the zone).</summary>
    public (DnsCode Code, List<DnsRecord> Answers, List<DnsRecord> Additional) Resolve(DnsQuestion question)
    {
        var answers = new List<DnsRecord>();
        var additional = new List<DnsRecord>();
        var name = question.Name;
        if (TryPod(name, question.Type, answers) is { } podCode)
        {
            return (podCode, answers, additional);
        }
        if (!_names.Contains(name) && !_records.ContainsKey(name))
        {
            if (name == Domain && question.Type is DnsType.Soa or DnsType.Any)
            {
                answers.Add(Soa);
            }
            return (name == Domain ? DnsCode.NoError : DnsCode.NxDomain, answers, additional);
        }
        var records = _records.GetValueOrDefault(name) ?? [];
        if (question.Type != DnsType.Cname && records.FirstOrDefault(r => r.Type == DnsType.Cname) is { } cname)
        {
            answers.Add(cname);
            if (IsAuthoritativeFor(cname.Data))
            {
                answers.AddRange((_records.GetValueOrDefault(cname.Data) ?? []).Where(r => r.Type == question.Type));
            }
            return (DnsCode.NoError, answers, additional);
        }
        answers.AddRange(records.Where(r => r.Type == question.Type || (question.Type == DnsType.Any && r.Type != DnsType.Ptr)));
        if (question.Type == DnsType.Srv)
        {
            foreach (var target in answers.Select(a => a.Data.Split(' ')[3]).Distinct(StringComparer.Ordinal))
            {
                additional.AddRange((_records.GetValueOrDefault(target) ?? []).Where(r => r.Type is DnsType.A or DnsType.Aaaa));
            }
        }
        return (DnsCode.NoError, answers, additional);
    }

    /// <summary><c>a-b-c-d.ns.pod.DOMAIN</c> answers with the address it spells; null for other names.</summary>
    private DnsCode? TryPod(string name, DnsType type, List<DnsRecord> answers)
    {
        var suffix = ".pod." + Domain;
        if (!name.EndsWith(suffix, StringComparison.Ordinal))
        {
            return null;
        }
        var labels = name[..^suffix.Length].Split('.');
        if (labels.Length != 2)
        {
            return null;
        }
        var dotted = labels[0].Replace('-', '.');
        if (!IPAddress.TryParse(dotted, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork || ip.ToString() != dotted)
        {
            return DnsCode.NxDomain;
        }
        if (type is DnsType.A or DnsType.Any)
        {
            answers.Add(new DnsRecord(name, DnsType.A, Ttl, dotted));
        }
        return DnsCode.NoError;
    }
}
