using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry.Strategies;

internal sealed class SecretStrategy : Strategy
{
    public override IReadOnlyList<Column> Columns { get; } =
    [
        Column.Name_(),
        Column.Text("Type", "Used to facilitate programmatic handling of secret data.", o => o.Str("type") ?? string.Empty),
        Column.Int("Data", "Data contains the secret data.", o => (long)(o.Obj("data")?.Count ?? 0)),
        Column.Age(),
    ];

    public override IReadOnlyCollection<string> SelectableFields { get; } = ["type"];

    public override string? GetField(JsonObject obj, string field) => field == "type" ? obj.Str("type") : null;

    public override void Default(JsonObject obj)
    {
        obj.Default("type", "Opaque");
        // stringData is write-only: it is folded into data (base64) and never stored.
        if (obj["stringData"] is JsonObject stringData)
        {
            var data = obj.Ensure("data");
            foreach (var (k, v) in stringData)
            {
                data[k] = Convert.ToBase64String(Encoding.UTF8.GetBytes(v?.GetValue<string>() ?? string.Empty));
            }
            obj.Remove("stringData");
        }
    }

    public override void Validate(JsonObject obj, List<FieldError> errors)
    {
        var data = obj.Obj("data") ?? [];
        long total = 0;
        foreach (var (key, value) in data)
        {
            ConfigMapStrategy.ValidateKey("data", key, errors);
            var text = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
            if (text is null || !IsBase64(text))
            {
                throw ApiException.BadRequest($"Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0");
            }
            total += text.Length * 3 / 4;
        }
        if (total > 1024 * 1024)
        {
            errors.Add(new FieldError("FieldValueTooLong", "data", "Too long: must have at most 1048576 bytes"));
        }
        var type = obj.Str("type") ?? "Opaque";
        switch (type)
        {
            case "kubernetes.io/tls":
                RequireKey(data, "tls.crt", errors);
                RequireKey(data, "tls.key", errors);
                break;
            case "kubernetes.io/dockerconfigjson":
                RequireKey(data, ".dockerconfigjson", errors);
                break;
            case "kubernetes.io/dockercfg":
                RequireKey(data, ".dockercfg", errors);
                break;
            case "kubernetes.io/ssh-auth":
                RequireKey(data, "ssh-privatekey", errors);
                break;
            case "kubernetes.io/basic-auth" when !data.ContainsKey("username") && !data.ContainsKey("password"):
                errors.Add(FieldError.Required("data[username]"));
                errors.Add(FieldError.Required("data[password]"));
                break;
            case "kubernetes.io/service-account-token" when obj.Str("metadata", "annotations", "kubernetes.io/service-account.name") is null:
                errors.Add(FieldError.Required("metadata.annotations[kubernetes.io/service-account.name]"));
                break;
        }
    }

    public override void ValidateUpdate(JsonObject obj, JsonObject old, List<FieldError> errors)
    {
        if ((obj.Str("type") ?? "Opaque") != (old.Str("type") ?? "Opaque"))
        {
            errors.Add(FieldError.Invalid("type", obj.Str("type"), "field is immutable"));
        }
        if (old.Bool("immutable") == true && (!JsonNode.DeepEquals(obj["data"], old["data"]) || obj.Bool("immutable") != true))
        {
            errors.Add(FieldError.Forbidden("data", "field is immutable when `immutable` is set"));
        }
    }

    private static void RequireKey(JsonObject data, string key, List<FieldError> errors)
    {
        if (!data.ContainsKey(key))
        {
            errors.Add(FieldError.Required($"data[{key}]"));
        }
    }

    private static bool IsBase64(string s)
    {
        var buffer = new byte[s.Length];
        return Convert.TryFromBase64String(s, buffer, out _);
    }
}
