using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

/// <summary>Certificate signing requests, admission webhook configurations (stored; webhooks are not called yet) and RuntimeClasses.</summary>
internal static class ClusterKinds
{
    public static IEnumerable<ResourceType> All() =>
    [
        new() { Group = "certificates.k8s.io", Version = "v1", Kind = "CertificateSigningRequest", Plural = "certificatesigningrequests", Namespaced = false, ShortNames = ["csr"], HasStatus = true, Strategy = SigningRequests() },
        new() { Group = "admissionregistration.k8s.io", Version = "v1", Kind = "ValidatingWebhookConfiguration", Plural = "validatingwebhookconfigurations", Namespaced = false, Strategy = Webhooks() },
        new() { Group = "admissionregistration.k8s.io", Version = "v1", Kind = "MutatingWebhookConfiguration", Plural = "mutatingwebhookconfigurations", Namespaced = false, Strategy = Webhooks() },
        new() { Group = "node.k8s.io", Version = "v1", Kind = "RuntimeClass", Plural = "runtimeclasses", Namespaced = false, Strategy = RuntimeClasses() },
    ];

    /// <summary>RuntimeClass: a handler name the nodes' runtimes know (a DNS label, fixed once set), with optional pod overhead and scheduling.</summary>
    private static TableStrategy RuntimeClasses() => new(
    [
        Column.Name_(),
        Column.Text("Handler", "The runtime handler the class selects.", o => o.Str("handler") ?? string.Empty),
        Column.Age(),
    ])
    {
        Validation = (o, errors) =>
        {
            if (o.Str("handler") is not { Length: > 0 } handler)
            {
                errors.Add(FieldError.Required("handler"));
            }
            else
            {
                errors.AddRange(Tugboat.Api.Validation.Names.ValidateDns1123Label(handler).Select(problem => FieldError.Invalid("handler", handler, problem)));
            }
        },
        Immutable = ["handler"],
    };

    private static TableStrategy SigningRequests() => new(
    [
        Column.Name_(),
        Column.Age(),
        Column.Text("SignerName", "The signer the request is for.", o => o.Str("spec", "signerName") ?? string.Empty),
        Column.Text("Requestor", "Who made the request.", o => o.Str("spec", "username") ?? string.Empty),
        Column.Text("RequestedDuration", "How long the requested certificate should be valid.", o => o.Long("spec", "expirationSeconds") is { } s ? Cells.HumanDuration(TimeSpan.FromSeconds(s)) : Cells.None),
        Column.Text("Condition", "The state of the request.", Condition),
    ])
    {
        InitialStatus = () => new JsonObject(),
        Validation = (o, errors) => TableStrategy.Require(o, errors, "spec.request", "spec.signerName"),
        Immutable = ["spec"],
    };

    private static string Condition(JsonObject csr)
    {
        var types = csr.Arr("status", "conditions").Objects().Select(c => c.Str("type") ?? string.Empty).ToList();
        if (csr.Str("status", "certificate") is { Length: > 0 })
        {
            types.Add("Issued");
        }
        return types.Count == 0 ? "Pending" : string.Join(",", types);
    }

    private static TableStrategy Webhooks() => new(
    [
        Column.Name_(),
        Column.Int("Webhooks", "The number of webhooks in the configuration.", o => (long)(o.Arr("webhooks")?.Count ?? 0)),
        Column.Age(),
    ])
    {
        Generation = true,
        Validation = (o, errors) =>
        {
            var i = 0;
            foreach (var w in o.Arr("webhooks").Objects())
            {
                TableStrategy.Require(w, errors, "name", "clientConfig", "sideEffects", "admissionReviewVersions");
                i++;
            }
        },
    };
}
