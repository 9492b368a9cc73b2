using System.Text.Json.Nodes;
using Tugboat.ApiServer.Registry;
using Tugboat.ApiServer.Security;

namespace Tugboat.ApiServer.Registry;

/// <summary>
/// The review APIs, answered from the request: access reviews (every authenticated user is an administrator until
/// RBAC is enforced, so every access is allowed, and the reason says why) and the caller's own identity.
/// </summary>
internal static class Reviews
{
    public const string AllowedReason = "every authenticated user is an administrator: RBAC is not enforced by this server yet";

    public static IEnumerable<ResourceType> Kinds() =>
    [
        Review("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false),
        Review("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", false),
        Review("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", true),
        Review("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false),
        Review("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", false),
        // kubectl 1.27 asks for the beta version, which upstream 1.30 still serves.
        Review("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", false, "v1beta1"),
    ];

    private static ResourceType Review(string group, string kind, string plural, bool namespaced, string version = "v1") => new()
    {
        Group = group,
        Version = version,
        Kind = kind,
        Plural = plural,
        Namespaced = namespaced,
        IsReview = true,
        Strategy = new Strategies.TableStrategy([Column.Name_()]),
    };

    public static JsonObject Answer(ResourceType rt, JsonObject review, UserInfo user)
    {
        var result = (JsonObject)review.DeepClone();
        result["apiVersion"] = rt.ApiVersion;
        result["kind"] = rt.Kind;
        result.Meta()["creationTimestamp"] = null;
        switch (rt.Kind)
        {
            case "SelfSubjectRulesReview":
                result["status"] = new JsonObject
                {
                    ["resourceRules"] = new JsonArray(new JsonObject { ["verbs"] = new JsonArray("*"), ["apiGroups"] = new JsonArray("*"), ["resources"] = new JsonArray("*") }),
                    ["nonResourceRules"] = new JsonArray(new JsonObject { ["verbs"] = new JsonArray("*"), ["nonResourceURLs"] = new JsonArray("*") }),
                    ["incomplete"] = false,
                };
                break;
            case "SelfSubjectReview":
                result["status"] = new JsonObject
                {
                    ["userInfo"] = new JsonObject
                    {
                        ["username"] = user.Name,
                        ["groups"] = new JsonArray(user.Groups.Select(g => (JsonNode)g).ToArray()),
                    },
                };
                break;
            default:
                if (review.At("spec", "resourceAttributes") is null && review.At("spec", "nonResourceAttributes") is null)
                {
                    throw ApiException.Invalid(rt.Kind, rt.Group, string.Empty, [FieldError.Invalid("spec.resourceAttributes", null, "exactly one of nonResourceAttributes or resourceAttributes must be specified")]);
                }
                result["status"] = new JsonObject { ["allowed"] = true, ["reason"] = AllowedReason };
                break;
        }
        return result;
    }
}
