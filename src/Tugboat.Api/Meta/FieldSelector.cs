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
            // As upstream: the first operator found from the left splits the term ("!=" before "==" before "="); what
            // follows is the value, where only escaped "\\", "\," and "\=" may stand.
            var (field, equal, value) = SplitTerm(term) ?? throw new FormatException($"invalid selector: '{text}'; can't understand '{term}'");
            list.Add(new Requirement(field, equal, Unescape(value)));
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

    private static (string Field, bool Equal, string Value)? SplitTerm(string term)
    {
        for (var i = 0; i < term.Length; i++)
        {
            var rest = term.AsSpan(i);
            if (rest.StartsWith("!="))
            {
                return (term[..i], false, term[(i + 2)..]);
            }
            if (rest.StartsWith("=="))
            {
                return (term[..i], true, term[(i + 2)..]);
            }
            if (rest[0] == '=')
            {
                return (term[..i], true, term[(i + 1)..]);
            }
        }
        return null;
    }

    /// <summary>Upstream's UnescapeValue, with its messages (an unescaped rune is printed as its code point, as Go's %v does).</summary>
    private static string Unescape(string s)
    {
        if (s.AsSpan().IndexOfAny('\\', ',', '=') < 0)
        {
            return s;
        }
        var value = new System.Text.StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\\')
            {
                if (i + 1 == s.Length)
                {
                    throw new FormatException("invalid field selector: invalid escape sequence: \\");
                }
                var next = s[++i];
                if (next is not ('\\' or ',' or '='))
                {
                    throw new FormatException($"invalid field selector: invalid escape sequence: \\{next}");
                }
                value.Append(next);
            }
            else if (c is ',' or '=')
            {
                throw new FormatException($"invalid field selector: unescaped character in value: {(int)c}");
            }
            else
            {
                value.Append(c);
            }
        }
        return value.ToString();
    }
}
