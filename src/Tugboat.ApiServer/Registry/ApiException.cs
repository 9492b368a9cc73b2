using System.Text.Json.Nodes;

namespace Tugboat.ApiServer.Registry;

/// <summary>A request failed; rendered as a <c>Status</c> object with upstream's code, reason and message.</summary>
internal sealed class ApiException(int code, string reason, string message) : Exception(message)
{
    public int Code { get; } = code;
    public string Reason { get; } = reason;
    public JsonObject? Details { get; init; }

    public static ApiException NotFound(string resource, string name) =>
        new(404, "NotFound", $"{resource} \"{name}\" not found") { Details = Detail(resource, name) };

    public static ApiException AlreadyExists(string resource, string name) =>
        new(409, "AlreadyExists", $"{resource} \"{name}\" already exists") { Details = Detail(resource, name) };

    public static ApiException Conflict(string resource, string name, string detail = "the object has been modified; please apply your changes to the latest version and try again") =>
        new(409, "Conflict", $"Operation cannot be fulfilled on {resource} \"{name}\": {detail}") { Details = Detail(resource, name) };

    /// <summary>A path that names nothing the server serves.</summary>
    public static ApiException NotFoundPath() => new(404, "NotFound", "the server could not find the requested resource");

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiException MethodNotAllowed(string message) => new(405, "MethodNotAllowed", message);

    public static ApiException Forbidden(string resource, string name, string message) =>
        new(403, "Forbidden", message) { Details = Detail(resource, name) };

    public static ApiException Expired(string message) => new(410, "Expired", message);

    public static ApiException Gone(string message) => new(410, "Gone", message);

    public static ApiException UnsupportedMediaType(string message) => new(415, "UnsupportedMediaType", message);

    public static ApiException Invalid(string kind, string group, string name, IReadOnlyList<FieldError> errors)
    {
        var summary = errors.Count == 1 ? errors[0].ToString() : "[" + string.Join(", ", errors) + "]";
        var details = new JsonObject { ["name"] = name };
        if (group.Length > 0)
        {
            details["group"] = group;
        }
        details["kind"] = kind;
        details["causes"] = new JsonArray(errors.Select(e => (JsonNode)new JsonObject
        {
            ["reason"] = e.Type,
            ["message"] = e.Message,
            ["field"] = e.Field,
        }).ToArray());
        var qualified = group.Length > 0 ? kind + "." + group : kind;
        return new ApiException(422, "Invalid", $"{qualified} \"{name}\" is invalid: {summary}") { Details = details };
    }

    private static JsonObject Detail(string resource, string name)
    {
        var dot = resource.IndexOf('.');
        var details = new JsonObject { ["name"] = name };
        if (dot > 0)
        {
            details["group"] = resource[(dot + 1)..];
        }
        details["kind"] = dot > 0 ? resource[..dot] : resource;
        return details;
    }

    public JsonObject ToStatus()
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = Message,
            ["reason"] = Reason,
        };
        if (Details is not null)
        {
            status["details"] = Details.DeepClone();
        }
        status["code"] = Code;
        return status;
    }
}
