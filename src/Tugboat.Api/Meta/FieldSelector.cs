namespace Tugboat.Api.Meta;

/// <summary>A parsed field selector (<c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, comma-separated), matched through a field getter.</summary>
public sealed class FieldSelector
{
    public sealed record Requirement(string Field, bool Equal, string Value);

    private FieldSelector(List<Requirement> requirements) => Requirements = requirements;

    public static FieldSelector Everything { get; } = new([]);

    public IReadOnlyList<Requirement> Requirements { get; }

    public bool IsEmpty => Requirements.Count == 0;

    /// <summary>Parses; throws <see cref="FormatException"/> with upstream's message for malformed terms.</summary>
    public static FieldSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }
        var list = new List<Requirement>();
        foreach (var raw in SplitTerms(text))
        {
            var term = raw.Trim();
            if (term.Length == 0)
            {
                continue;
            }
            int idx;
            if ((idx = term.IndexOf("!=", StringComparison.Ordinal)) > 0)
            {
                list.Add(new Requirement(term[..idx], false, Unescape(term[(idx + 2)..])));
            }
            else if ((idx = term.IndexOf("==", StringComparison.Ordinal)) > 0)
            {
                list.Add(new Requirement(term[..idx], true, Unescape(term[(idx + 2)..])));
            }
            else if ((idx = term.IndexOf('=')) > 0)
            {
                list.Add(new Requirement(term[..idx], true, Unescape(term[(idx + 1)..])));
            }
            else
            {
                throw new FormatException($"invalid selector: '{text}'; can't understand '{term}'");
            }
        }
        return new FieldSelector(list);
    }

    /// <summary>True when every requirement holds; <paramref name="getField"/> returns null for fields the kind does not support.</summary>
    public bool Matches(Func<string, string?> getField)
    {
        foreach (var r in Requirements)
        {
            var value = getField(r.Field) ?? string.Empty;
            if ((value == r.Value) != r.Equal)
            {
                return false;
            }
        }
        return true;
    }

    private static IEnumerable<string> SplitTerms(string text)
    {
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == ',')
            {
                yield return text[start..i];
                start = i + 1;
            }
        }
        yield return text[start..];
    }

    private static string Unescape(string s) =>
        s.Contains('\\') ? s.Replace("\\,", ",").Replace("\\=", "=").Replace("\\\\", "\\") : s;
}
