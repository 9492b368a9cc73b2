using System.Text;
using System.Text.Json.Nodes;

namespace Tugboat.Api.Meta;

/// <summary>
/// A parsed label selector (the string form of <c>?labelSelector=</c>: <c>=</c>, <c>==</c>, <c>!=</c>, <c>in</c>,
/// <c>notin</c>, <c>key</c> (exists) and <c>!key</c>), matched against an object's labels.
/// </summary>
public sealed class LabelSelector
{
    private readonly List<Requirement> _requirements;

    private LabelSelector(List<Requirement> requirements) => _requirements = requirements;

    public static LabelSelector Everything { get; } = new([]);

    public bool IsEmpty => _requirements.Count == 0;

    public enum Operator
    {
        Equals,
        NotEquals,
        In,
        NotIn,
        Exists,
        DoesNotExist,
    }

    public sealed record Requirement(string Key, Operator Op, IReadOnlyList<string> Values);

    public IReadOnlyList<Requirement> Requirements => _requirements;

    public bool Matches(IReadOnlyDictionary<string, string> labels)
    {
        foreach (var r in _requirements)
        {
            var has = labels.TryGetValue(r.Key, out var value);
            var ok = r.Op switch
            {
                Operator.Equals => has && value == r.Values[0],
                Operator.NotEquals => !has || value != r.Values[0],
                Operator.In => has && r.Values.Contains(value!),
                Operator.NotIn => !has || !r.Values.Contains(value!),
                Operator.Exists => has,
                Operator.DoesNotExist => !has,
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Parses the selector string; throws <see cref="FormatException"/> with an upstream-style message.</summary>
    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }
        var list = new List<Requirement>();
        var p = new Scanner(text);
        while (true)
        {
            p.SkipSpaces();
            if (p.AtEnd)
            {
                break;
            }
            if (p.Peek == '!')
            {
                p.Next();
                var key = p.ReadKey();
                ValidateKey(key, text);
                list.Add(new Requirement(key, Operator.DoesNotExist, []));
            }
            else
            {
                var key = p.ReadKey();
                ValidateKey(key, text);
                p.SkipSpaces();
                if (p.AtEnd || p.Peek == ',')
                {
                    list.Add(new Requirement(key, Operator.Exists, []));
                }
                else if (p.TryConsume("==") || p.TryConsume("="))
                {
                    list.Add(new Requirement(key, Operator.Equals, [ValidateValue(p.ReadValue(), text)]));
                }
                else if (p.TryConsume("!="))
                {
                    list.Add(new Requirement(key, Operator.NotEquals, [ValidateValue(p.ReadValue(), text)]));
                }
                else if (p.TryConsumeWord("notin"))
                {
                    list.Add(new Requirement(key, Operator.NotIn, p.ReadSet(text)));
                }
                else if (p.TryConsumeWord("in"))
                {
                    list.Add(new Requirement(key, Operator.In, p.ReadSet(text)));
                }
                else
                {
                    throw new FormatException($"unable to parse requirement: found '{p.Rest}', expected: in, notin, =, ==, !=, gt, lt");
                }
            }
            p.SkipSpaces();
            if (p.AtEnd)
            {
                break;
            }
            if (!p.TryConsume(","))
            {
                throw new FormatException($"found '{p.Rest}', expected: ',' or 'end of string'");
            }
            p.SkipSpaces();
            if (p.AtEnd)
            {
                throw new FormatException("found '', expected: identifier after ','");
            }
        }
        return new LabelSelector(list);
    }

    /// <summary>Converts a <c>metav1.LabelSelector</c> object (matchLabels, matchExpressions) to a selector.</summary>
    public static LabelSelector FromJson(JsonNode? selector)
    {
        if (selector is not JsonObject obj)
        {
            return Everything;
        }
        var list = new List<Requirement>();
        if (obj["matchLabels"] is JsonObject ml)
        {
            foreach (var (k, v) in ml)
            {
                list.Add(new Requirement(k, Operator.Equals, [v?.GetValue<string>() ?? string.Empty]));
            }
        }
        if (obj["matchExpressions"] is JsonArray me)
        {
            foreach (var e in me.OfType<JsonObject>())
            {
                var key = e["key"]?.GetValue<string>() ?? string.Empty;
                var values = (e["values"] as JsonArray)?.Select(v => v?.GetValue<string>() ?? string.Empty).ToList() ?? [];
                var op = e["operator"]?.GetValue<string>() switch
                {
                    "In" => Operator.In,
                    "NotIn" => Operator.NotIn,
                    "Exists" => Operator.Exists,
                    "DoesNotExist" => Operator.DoesNotExist,
                    var other => throw new FormatException($"{other} is not a valid label selector operator"),
                };
                list.Add(new Requirement(key, op, values));
            }
        }
        list.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new LabelSelector(list);
    }

    /// <summary>The canonical string form, as upstream prints it (e.g. in a Scale's status.selector).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var r in _requirements)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }
            switch (r.Op)
            {
                case Operator.Equals:
                    sb.Append(r.Key).Append('=').Append(r.Values[0]);
                    break;
                case Operator.NotEquals:
                    sb.Append(r.Key).Append("!=").Append(r.Values[0]);
                    break;
                case Operator.In:
                    sb.Append(r.Key).Append(" in (").Append(string.Join(",", r.Values.Order(StringComparer.Ordinal))).Append(')');
                    break;
                case Operator.NotIn:
                    sb.Append(r.Key).Append(" notin (").Append(string.Join(",", r.Values.Order(StringComparer.Ordinal))).Append(')');
                    break;
                case Operator.Exists:
                    sb.Append(r.Key);
                    break;
                case Operator.DoesNotExist:
                    sb.Append('!').Append(r.Key);
                    break;
            }
        }
        return sb.ToString();
    }

    private static void ValidateKey(string key, string text)
    {
        if (key.Length == 0)
        {
            throw new FormatException($"unable to parse requirement: found '{text}', expected: identifier");
        }
        var error = Validation.Names.ValidateQualifiedName(key);
        if (error is not null)
        {
            throw new FormatException($"unable to parse requirement: values[0][{key}]: Invalid value: \"{key}\": {error}");
        }
    }

    private static string ValidateValue(string value, string text)
    {
        var error = Validation.Names.ValidateLabelValue(value);
        if (error is not null)
        {
            throw new FormatException($"unable to parse requirement: values[0][{value}]: Invalid value: \"{value}\": {error}");
        }
        return value;
    }

    private sealed class Scanner(string text)
    {
        private int _pos;

        public bool AtEnd => _pos >= text.Length;

        public char Peek => text[_pos];

        public string Rest => text[_pos..];

        public void Next() => _pos++;

        public void SkipSpaces()
        {
            while (!AtEnd && char.IsWhiteSpace(text[_pos]))
            {
                _pos++;
            }
        }

        public bool TryConsume(string s)
        {
            if (string.CompareOrdinal(text, _pos, s, 0, s.Length) == 0)
            {
                _pos += s.Length;
                return true;
            }
            return false;
        }

        public bool TryConsumeWord(string word)
        {
            var save = _pos;
            if (TryConsume(word) && (AtEnd || char.IsWhiteSpace(Peek) || Peek == '('))
            {
                return true;
            }
            _pos = save;
            return false;
        }

        public string ReadKey()
        {
            SkipSpaces();
            var start = _pos;
            while (!AtEnd && !char.IsWhiteSpace(Peek) && Peek is not ('=' or '!' or ',' or '(' or ')'))
            {
                _pos++;
            }
            return text[start.._pos];
        }

        public string ReadValue()
        {
            SkipSpaces();
            var start = _pos;
            while (!AtEnd && !char.IsWhiteSpace(Peek) && Peek is not (',' or '(' or ')' or '=' or '!'))
            {
                _pos++;
            }
            return text[start.._pos];
        }

        public List<string> ReadSet(string original)
        {
            SkipSpaces();
            if (!TryConsume("("))
            {
                throw new FormatException($"found '{Rest}', expected: '('");
            }
            var values = new List<string>();
            while (true)
            {
                var v = ReadValue();
                values.Add(ValidateValue(v, original));
                SkipSpaces();
                if (TryConsume(")"))
                {
                    break;
                }
                if (!TryConsume(","))
                {
                    throw new FormatException($"found '{(AtEnd ? "end of string" : Rest)}', expected: ',' or ')'");
                }
            }
            return values;
        }
    }
}
