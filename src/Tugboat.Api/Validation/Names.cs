using System.Text.RegularExpressions;

namespace Tugboat.Api.Validation;

/// <summary>Upstream's name and label validation, with upstream's messages (apimachinery/pkg/util/validation).</summary>
public static partial class Names
{
    private const string Dns1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
    private const string Dns1123SubdomainFmt = Dns1123LabelFmt + "(\\." + Dns1123LabelFmt + ")*";
    private const string QualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
    private const string LabelValueFmt = "(" + QualifiedNameFmt + ")?";

    [GeneratedRegex("^" + Dns1123LabelFmt + "$")]
    private static partial Regex Dns1123Label();

    [GeneratedRegex("^" + Dns1123SubdomainFmt + "$")]
    private static partial Regex Dns1123Subdomain();

    [GeneratedRegex("^" + QualifiedNameFmt + "$")]
    private static partial Regex QualifiedName();

    [GeneratedRegex("^" + LabelValueFmt + "$")]
    private static partial Regex LabelValue();

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035Label();

    /// <summary>Errors for an RFC 1123 subdomain (most object names), empty when valid.</summary>
    public static List<string> ValidateDns1123Subdomain(string value)
    {
        var errors = new List<string>();
        if (value.Length > 253)
        {
            errors.Add("must be no more than 253 characters");
        }
        if (!Dns1123Subdomain().IsMatch(value))
        {
            errors.Add("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '" + Dns1123SubdomainFmt + "')");
        }
        return errors;
    }

    /// <summary>Errors for an RFC 1123 label (namespace names), empty when valid.</summary>
    public static List<string> ValidateDns1123Label(string value)
    {
        var errors = new List<string>();
        if (value.Length > 63)
        {
            errors.Add("must be no more than 63 characters");
        }
        if (!Dns1123Label().IsMatch(value))
        {
            errors.Add("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '" + Dns1123LabelFmt + "')");
        }
        return errors;
    }

    /// <summary>Errors for an RFC 1035 label (service names), empty when valid.</summary>
    public static List<string> ValidateDns1035Label(string value)
    {
        var errors = new List<string>();
        if (value.Length > 63)
        {
            errors.Add("must be no more than 63 characters");
        }
        if (!Dns1035Label().IsMatch(value))
        {
            errors.Add("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
        }
        return errors;
    }

    /// <summary>Error for a label or annotation key (optional DNS prefix + qualified name), or null.</summary>
    public static string? ValidateQualifiedName(string value)
    {
        var name = value;
        var slash = value.IndexOf('/');
        if (slash >= 0)
        {
            var prefix = value[..slash];
            name = value[(slash + 1)..];
            if (prefix.Length == 0)
            {
                return "prefix part must be non-empty";
            }
            if (ValidateDns1123Subdomain(prefix).Count > 0)
            {
                return "prefix part " + ValidateDns1123Subdomain(prefix)[0];
            }
        }
        if (name.Length == 0)
        {
            return "name part must be non-empty";
        }
        if (name.Length > 63)
        {
            return "name part must be no more than 63 characters";
        }
        if (!QualifiedName().IsMatch(name))
        {
            return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '" + QualifiedNameFmt + "')";
        }
        return null;
    }

    /// <summary>Error for a label value, or null.</summary>
    public static string? ValidateLabelValue(string value)
    {
        if (value.Length > 63)
        {
            return "must be no more than 63 characters";
        }
        if (!LabelValue().IsMatch(value))
        {
            return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '" + LabelValueFmt + "')";
        }
        return null;
    }
}
