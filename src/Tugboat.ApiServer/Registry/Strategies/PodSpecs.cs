using System.Text.Json.Nodes;
using Tugboat.Api.Validation;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>Upstream's defaulting and validation of a PodSpec, shared by pods and every pod template.</summary>
internal static class PodSpecs
{
    public static readonly string[] RestartPolicies = ["Always", "OnFailure", "Never"];
    private static readonly string[] DnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
    private static readonly string[] PullPolicies = ["Always", "IfNotPresent", "Never"];
    private static readonly string[] Protocols = ["TCP", "UDP", "SCTP"];

    public static void Default(JsonObject spec)
    {
        spec.Default("restartPolicy", "Always");
        spec.Default("terminationGracePeriodSeconds", 30);
        spec.Default("dnsPolicy", "ClusterFirst");
        spec.Default("securityContext", new JsonObject());
        spec.Default("schedulerName", "default-scheduler");
        var hostNetwork = spec.Bool("hostNetwork") == true;
        foreach (var c in spec.Arr("initContainers").Objects().Concat(spec.Arr("containers").Objects()).Concat(spec.Arr("ephemeralContainers").Objects()))
        {
            DefaultContainer(c, hostNetwork);
        }
        foreach (var v in spec.Arr("volumes").Objects())
        {
            DefaultVolume(v);
        }
    }

    /// <summary>
    /// Upstream's volume defaults: a volume that names no source is an emptyDir; secret, configMap, downwardAPI and
    /// projected volumes get defaultMode 0644; downward API field references default to apiVersion v1.
    /// </summary>
    private static void DefaultVolume(JsonObject v)
    {
        if (v.All(p => p.Key == "name"))
        {
            v["emptyDir"] = new JsonObject();
            return;
        }
        foreach (var source in (ReadOnlySpan<string>)["secret", "configMap", "downwardAPI", "projected"])
        {
            if (v[source] is JsonObject o)
            {
                o.Default("defaultMode", 420);
            }
        }
        foreach (var item in v.Arr("downwardAPI", "items").Objects())
        {
            DefaultFieldRef(item["fieldRef"]);
        }
        foreach (var projected in v.Arr("projected", "sources").Objects())
        {
            foreach (var item in projected.Arr("downwardAPI", "items").Objects())
            {
                DefaultFieldRef(item["fieldRef"]);
            }
        }
    }

    private static void DefaultFieldRef(JsonNode? fieldRef)
    {
        if (fieldRef is JsonObject f)
        {
            f.Default("apiVersion", "v1");
        }
    }

    private static void DefaultContainer(JsonObject c, bool hostNetwork)
    {
        foreach (var env in c.Arr("env").Objects())
        {
            DefaultFieldRef(env.At("valueFrom", "fieldRef"));
        }
        c.Default("terminationMessagePath", "/dev/termination-log");
        c.Default("terminationMessagePolicy", "File");
        c.Default("resources", new JsonObject());
        if (c["imagePullPolicy"] is null)
        {
            var image = c.Str("image") ?? string.Empty;
            var lastSegment = image.Contains('@') ? null : image[(image.LastIndexOf('/') + 1)..];
            var tag = lastSegment is not null && lastSegment.Contains(':') ? lastSegment[(lastSegment.IndexOf(':') + 1)..] : null;
            c["imagePullPolicy"] = lastSegment is not null && (tag is null || tag == "latest") ? "Always" : "IfNotPresent";
        }
        foreach (var p in c.Arr("ports").Objects())
        {
            p.Default("protocol", "TCP");
            // On the host's network a container port is a host port.
            if (hostNetwork && p["hostPort"] is null && p["containerPort"] is { } containerPort)
            {
                p["hostPort"] = containerPort.DeepClone();
            }
        }
        foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
        {
            if (c[probe] is JsonObject pr)
            {
                pr.Default("timeoutSeconds", 1);
                pr.Default("periodSeconds", 10);
                pr.Default("successThreshold", 1);
                pr.Default("failureThreshold", 3);
                if (pr["httpGet"] is JsonObject http)
                {
                    http.Default("path", "/");
                    http.Default("scheme", "HTTP");
                }
            }
        }
    }

    public static void Validate(JsonNode? spec, string path, List<FieldError> errors)
    {
        if (spec is not JsonObject s)
        {
            errors.Add(FieldError.Required(path));
            return;
        }
        var containers = s.Arr("containers");
        if (containers is not { Count: > 0 })
        {
            errors.Add(FieldError.Required(path + ".containers"));
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        ValidateContainers(s.Arr("initContainers"), path + ".initContainers", names, errors);
        ValidateContainers(containers, path + ".containers", names, errors);
        if (s.Str("restartPolicy") is { } rp && !RestartPolicies.Contains(rp))
        {
            errors.Add(FieldError.NotSupported(path + ".restartPolicy", rp, RestartPolicies));
        }
        if (s.Str("dnsPolicy") is { } dp && !DnsPolicies.Contains(dp))
        {
            errors.Add(FieldError.NotSupported(path + ".dnsPolicy", dp, DnsPolicies));
        }
        if (s.Long("terminationGracePeriodSeconds") is < 0)
        {
            errors.Add(FieldError.Invalid(path + ".terminationGracePeriodSeconds", s["terminationGracePeriodSeconds"]?.DeepClone(), "must be greater than or equal to 0"));
        }
        if (s.Long("activeDeadlineSeconds") is <= 0)
        {
            errors.Add(FieldError.Invalid(path + ".activeDeadlineSeconds", s["activeDeadlineSeconds"]?.DeepClone(), "must be between 1 and 2147483647, inclusive"));
        }
        var volumes = new HashSet<string>(StringComparer.Ordinal);
        var i = 0;
        foreach (var v in s.Arr("volumes").Objects())
        {
            var name = v.Str("name") ?? string.Empty;
            if (name.Length == 0)
            {
                errors.Add(FieldError.Required($"{path}.volumes[{i}].name"));
            }
            else if (!volumes.Add(name))
            {
                errors.Add(FieldError.Duplicate($"{path}.volumes[{i}].name", name));
            }
            i++;
        }
    }

    private static void ValidateContainers(JsonArray? containers, string path, HashSet<string> names, List<FieldError> errors)
    {
        var i = 0;
        foreach (var c in containers.Objects())
        {
            var p = $"{path}[{i}]";
            var name = c.Str("name");
            if (string.IsNullOrEmpty(name))
            {
                errors.Add(FieldError.Required(p + ".name"));
            }
            else
            {
                foreach (var e in Names.ValidateDns1123Label(name))
                {
                    errors.Add(FieldError.Invalid(p + ".name", name, e));
                }
                if (!names.Add(name))
                {
                    errors.Add(FieldError.Duplicate(p + ".name", name));
                }
            }
            if (string.IsNullOrWhiteSpace(c.Str("image")))
            {
                errors.Add(FieldError.Required(p + ".image"));
            }
            if (c.Str("imagePullPolicy") is { } pp && !PullPolicies.Contains(pp))
            {
                errors.Add(FieldError.NotSupported(p + ".imagePullPolicy", pp, PullPolicies));
            }
            var j = 0;
            foreach (var port in c.Arr("ports").Objects())
            {
                var cp = port.Long("containerPort");
                if (cp is null)
                {
                    errors.Add(FieldError.Required($"{p}.ports[{j}].containerPort"));
                }
                else if (cp is < 1 or > 65535)
                {
                    errors.Add(FieldError.Invalid($"{p}.ports[{j}].containerPort", cp.Value, "must be between 1 and 65535, inclusive"));
                }
                if (port.Str("protocol") is { } proto && !Protocols.Contains(proto))
                {
                    errors.Add(FieldError.NotSupported($"{p}.ports[{j}].protocol", proto, Protocols));
                }
                j++;
            }
            var k = 0;
            foreach (var env in c.Arr("env").Objects())
            {
                if (string.IsNullOrEmpty(env.Str("name")))
                {
                    errors.Add(FieldError.Required($"{p}.env[{k}].name"));
                }
                k++;
            }
            i++;
        }
    }

    /// <summary>Upstream's QoS class from the containers' requests and limits.</summary>
    public static string QosClass(JsonObject spec)
    {
        var containers = spec.Arr("containers").Objects().Concat(spec.Arr("initContainers").Objects()).ToList();
        var any = false;
        var guaranteed = true;
        foreach (var c in containers)
        {
            var requests = c.Obj("resources", "requests");
            var limits = c.Obj("resources", "limits");
            if (requests is { Count: > 0 } || limits is { Count: > 0 })
            {
                any = true;
            }
            foreach (var r in new[] { "cpu", "memory" })
            {
                var limit = limits?[r]?.ToString();
                var request = requests?[r]?.ToString() ?? limit;
                if (limit is null || request != limit)
                {
                    guaranteed = false;
                }
            }
        }
        return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
    }
}
