using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tugboat.Api.Serialization;

namespace Tugboat.Api.Apply;

/// <summary>
/// A set of field paths, as managedFields records them (FieldsV1): a tree whose edges are path elements —
/// <c>f:name</c> for a field, <c>k:{"name":"web"}</c> for a list item by its key fields, <c>v:"x"</c> for a set item,
/// <c>i:3</c> for an item by index — and whose nodes are members of the set or only lead to members (upstream's ".").
/// </summary>
public sealed class FieldSet
{
    private Dictionary<string, FieldSet>? _children;

    /// <summary>Whether the path that leads to this node is itself in the set.</summary>
    public bool Member { get; set; }

    public bool IsEmpty => !Member && (_children is null || _children.Count == 0);

    public IEnumerable<KeyValuePair<string, FieldSet>> Children => (IEnumerable<KeyValuePair<string, FieldSet>>?)_children ?? [];

    public FieldSet? ChildOrNull(string element) => _children?.GetValueOrDefault(element);

    /// <summary>The node for <paramref name="element"/> below this one, created when missing.</summary>
    public FieldSet Child(string element)
    {
        _children ??= new Dictionary<string, FieldSet>(StringComparer.Ordinal);
        if (!_children.TryGetValue(element, out var child))
        {
            child = new FieldSet();
            _children[element] = child;
        }
        return child;
    }

    public void Remove(string element) => _children?.Remove(element);

    /// <summary>The node at <paramref name="path"/>, created when missing.</summary>
    public FieldSet At(IEnumerable<string> path)
    {
        var node = this;
        foreach (var element in path)
        {
            node = node.Child(element);
        }
        return node;
    }

    public void Insert(IEnumerable<string> path) => At(path).Member = true;

    /// <summary>Adds every member of <paramref name="other"/>.</summary>
    public void UnionWith(FieldSet other)
    {
        Member |= other.Member;
        foreach (var (element, child) in other.Children)
        {
            Child(element).UnionWith(child);
        }
    }

    /// <summary>Removes every member of <paramref name="other"/> and the nodes left leading nowhere.</summary>
    public void ExceptWith(FieldSet other)
    {
        if (other.Member)
        {
            Member = false;
        }
        if (_children is null)
        {
            return;
        }
        foreach (var (element, child) in other.Children)
        {
            if (_children.TryGetValue(element, out var mine))
            {
                mine.ExceptWith(child);
                if (mine.IsEmpty)
                {
                    _children.Remove(element);
                }
            }
        }
    }

    /// <summary>The members that are also members of <paramref name="other"/>.</summary>
    public FieldSet Intersect(FieldSet other)
    {
        var result = new FieldSet { Member = Member && other.Member };
        if (_children is not null && other._children is not null)
        {
            foreach (var (element, child) in _children)
            {
                if (other._children.TryGetValue(element, out var theirs))
                {
                    var both = child.Intersect(theirs);
                    if (!both.IsEmpty)
                    {
                        result.Child(element).UnionWith(both);
                    }
                }
            }
        }
        return result;
    }

    public FieldSet Clone()
    {
        var copy = new FieldSet();
        copy.UnionWith(this);
        return copy;
    }

    /// <summary>Whether the path is a member or leads to one.</summary>
    public bool HasNode(IReadOnlyList<string> path)
    {
        var node = this;
        foreach (var element in path)
        {
            node = node.ChildOrNull(element);
            if (node is null)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Every member's path, in FieldsV1 order.</summary>
    public List<string[]> Members()
    {
        var result = new List<string[]>();
        Collect(new List<string>(), result);
        return result;
    }

    private void Collect(List<string> path, List<string[]> result)
    {
        if (Member && path.Count > 0)
        {
            result.Add([.. path]);
        }
        if (_children is null)
        {
            return;
        }
        foreach (var element in Ordered(_children.Keys))
        {
            path.Add(element);
            _children[element].Collect(path, result);
            path.RemoveAt(path.Count - 1);
        }
    }

    public bool Equals(FieldSet other)
    {
        if (Member != other.Member || (_children?.Count ?? 0) != (other._children?.Count ?? 0))
        {
            return false;
        }
        foreach (var (element, child) in Children)
        {
            if (other.ChildOrNull(element) is not { } theirs || !child.Equals(theirs))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The FieldsV1 form: <c>{"f:spec":{"f:replicas":{}}, ...}</c>, "." marking members that have children.</summary>
    public JsonObject ToFieldsV1()
    {
        var obj = new JsonObject();
        if (_children is null || _children.Count == 0)
        {
            return obj;
        }
        if (Member)
        {
            obj["."] = new JsonObject();
        }
        foreach (var element in Ordered(_children.Keys))
        {
            if (!_children[element].IsEmpty)
            {
                obj[element] = _children[element].ToFieldsV1();
            }
        }
        return obj;
    }

    /// <summary>Reads the FieldsV1 form; returns null when it is not one.</summary>
    public static FieldSet? FromFieldsV1(JsonNode? node)
    {
        if (node is not JsonObject obj)
        {
            return null;
        }
        var set = new FieldSet();
        return Read(obj, set) ? set : null;
    }

    private static bool Read(JsonObject obj, FieldSet node)
    {
        if (obj.Count == 0)
        {
            node.Member = true;
            return true;
        }
        foreach (var (key, value) in obj)
        {
            if (value is not JsonObject child)
            {
                return false;
            }
            if (key == ".")
            {
                node.Member = true;
                continue;
            }
            if (key.Length < 2 || key[1] != ':' || key[0] is not ('f' or 'k' or 'v' or 'i'))
            {
                return false;
            }
            if (!Read(child, node.Child(key)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>A path as upstream prints it in conflicts: <c>.spec.template.spec.containers[name="web"].image</c>.</summary>
    public static string Render(IEnumerable<string> path)
    {
        var sb = new StringBuilder();
        foreach (var element in path)
        {
            var body = element[2..];
            switch (element[0])
            {
                case 'f':
                    sb.Append('.').Append(body);
                    break;
                case 'k':
                    sb.Append('[');
                    var first = true;
                    foreach (var (k, v) in JsonLimits.Parse(body)!.AsObject())
                    {
                        sb.Append(first ? string.Empty : ",").Append(k).Append('=').Append(v?.ToJsonString(Wire) ?? "null");
                        first = false;
                    }
                    sb.Append(']');
                    break;
                case 'v':
                    sb.Append("[=").Append(body).Append(']');
                    break;
                default:
                    sb.Append('[').Append(body).Append(']');
                    break;
            }
        }
        return sb.ToString();
    }

    internal static readonly JsonSerializerOptions Wire = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, MaxDepth = JsonLimits.MaxDepth };

    /// <summary>Fields first, then keyed items, set values, indexes; ordinal within each.</summary>
    private static List<string> Ordered(IEnumerable<string> elements)
    {
        var list = new List<string>(elements);
        list.Sort(static (a, b) => Rank(a[0]) != Rank(b[0]) ? Rank(a[0]) - Rank(b[0]) : string.CompareOrdinal(a, b));
        return list;
    }

    private static int Rank(char kind) => kind switch { 'f' => 0, 'k' => 1, 'v' => 2, _ => 3 };
}
