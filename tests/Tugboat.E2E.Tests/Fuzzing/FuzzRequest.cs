using System.Text;

namespace Tugboat.E2E.Tests.Fuzzing;

/// <summary>
/// One HTTP request as the fuzzer sends it. The corpus keeps requests as <c>.http</c> files: a request line
/// (<c>METHOD PATH?QUERY</c>), header lines, an empty line, and the body as bytes to the end of the file.
/// </summary>
public sealed record FuzzRequest(string Method, string Path, List<KeyValuePair<string, string>> Query, List<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public static FuzzRequest Parse(byte[] file)
    {
        var headerEnd = IndexOf(file, "\n\n"u8);
        var head = Encoding.UTF8.GetString(file, 0, headerEnd < 0 ? file.Length : headerEnd).Split('\n');
        var body = headerEnd < 0 ? [] : file[(headerEnd + 2)..];
        if (body.Length > 0 && body[^1] == '\n')
        {
            body = body[..^1];
        }
        var requestLine = head[0].Split(' ', 2);
        var target = requestLine[1];
        var q = target.IndexOf('?');
        var query = new List<KeyValuePair<string, string>>();
        if (q >= 0)
        {
            foreach (var pair in target[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=');
                query.Add(eq < 0 ? new(Uri.UnescapeDataString(pair), string.Empty) : new(Uri.UnescapeDataString(pair[..eq]), Uri.UnescapeDataString(pair[(eq + 1)..])));
            }
        }
        var headers = head.Skip(1).Where(h => h.Contains(':')).Select(h => new KeyValuePair<string, string>(h[..h.IndexOf(':')].Trim(), h[(h.IndexOf(':') + 1)..].Trim())).ToList();
        return new FuzzRequest(requestLine[0], q >= 0 ? target[..q] : target, query, headers, body);
    }

    public FuzzRequest Copy() => this with { Query = [.. Query], Headers = [.. Headers], Body = (byte[])Body.Clone() };

    public string Target => Query.Count == 0 ? Path : Path + "?" + string.Join("&", Query.Select(kv => Uri.EscapeDataString(kv.Key) + "=" + Uri.EscapeDataString(kv.Value)));

    public bool IsUpgrade => Headers.Any(h => h.Key.Equals("Upgrade", StringComparison.OrdinalIgnoreCase));

    /// <summary>The request as bytes on the wire (HTTP/1.1, one request per connection).</summary>
    public byte[] ToWire(string host)
    {
        var head = new StringBuilder();
        head.Append(Method).Append(' ').Append(Target).Append(" HTTP/1.1\r\n");
        head.Append("Host: ").Append(host).Append("\r\n");
        var upgrade = IsUpgrade;
        foreach (var (name, value) in Headers)
        {
            if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        head.Append("Connection: ").Append(upgrade ? "Upgrade" : "close").Append("\r\n");
        head.Append("User-Agent: tugboat-fuzzer\r\n");
        if (Body.Length > 0 || Method is "POST" or "PUT" or "PATCH")
        {
            head.Append("Content-Length: ").Append(Body.Length).Append("\r\n");
        }
        head.Append("\r\n");
        return [.. Encoding.UTF8.GetBytes(head.ToString()), .. Body];
    }

    /// <summary>The request as a corpus file, to keep what found a bug.</summary>
    public byte[] ToFile()
    {
        var head = new StringBuilder();
        head.Append(Method).Append(' ').Append(Target).Append('\n');
        foreach (var (name, value) in Headers)
        {
            head.Append(name).Append(": ").Append(value).Append('\n');
        }
        head.Append('\n');
        return [.. Encoding.UTF8.GetBytes(head.ToString()), .. Body, (byte)'\n'];
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);
}
